/**
 * A tensor's values, computed in a tidy scope. A typed array must never be what `tf.tidy` itself returns: tfjs then
 * walks the result for tensors to keep, element by element (≈ 0.5 µs each: 75 ms for one 224 × 224 RGB image,
 * against 2 ms to decode it).
 */
import * as tf from '@tensorflow/tfjs';

/** The float32 values of the tensor `f` computes; every other tensor it makes is disposed. */
export function tidyValues(f: () => tf.Tensor): Float32Array {
  const t = tf.tidy(() => tf.cast(f(), 'float32'));
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

/**
 * `f`'s plain result (numbers, not tensors), every tensor it made disposed: `tf.tidy` for results it has no type
 * for, and without its walk over them.
 */
export function scoped<T>(f: () => T): T {
  tf.engine().startScope();
  try {
    return f();
  } finally {
    tf.engine().endScope();
  }
}
