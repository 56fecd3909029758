/**
 * TensorFlow kernels that tfjs has no op for, called through the native backend's binding, each with the tfjs
 * composition it replaces for the other backends (WASM, CPU). One native kernel where tfjs would run two or three
 * ops matters on CPUs: every op costs a fixed hand-off on top of its arithmetic (docs/BENCHMARKS.md).
 */
import * as tf from '@tensorflow/tfjs';

/** The part of tfjs-node's kernel backend used here (not exported as a type by the package). */
interface NodeKernelBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number; TF_INT32: number };
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: tf.Tensor[], count: number): tf.Tensor[];
}

/** The native backend when it is the active one, else undefined. */
function nativeBackend(): NodeKernelBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const b = tf.backend() as unknown as Partial<NodeKernelBackend>;
  return typeof b.executeMultipleOutputs === 'function' && b.binding ? (b as NodeKernelBackend) : undefined;
}

/** Whether the ops below run TensorFlow's kernels (the native backend is active). */
export function nativeOpsActive(): boolean {
  return nativeBackend() !== undefined;
}

function typeAttr(b: NodeKernelBackend, name: string, dtype: number): unknown {
  return { name, type: b.binding.TF_ATTR_TYPE, value: dtype };
}

/**
 * Options shared by the ops: `portable` forces the tfjs composition (tests hold the two to each other). Call them
 * in a tidy scope: the compositions leave their intermediates to it.
 */
export interface NativeOpOptions {
  /** @default false */
  portable?: boolean;
}

/** dy where the ReLU's output was positive, else 0 (TensorFlow's ReluGrad; tfjs: dy · step(y)). */
export function reluGrad(dy: tf.Tensor2D, y: tf.Tensor2D, o: NativeOpOptions = {}): tf.Tensor2D {
  const b = o.portable ? undefined : nativeBackend();
  if (!b) return tf.tidy(() => tf.mul(dy, tf.step(y)));
  return b.executeSingleOutput('ReluGrad', [typeAttr(b, 'T', b.binding.TF_FLOAT)], [dy, y]) as tf.Tensor2D;
}

/**
 * Uniform floats in [0, 1) drawn by TensorFlow's StatelessRandomUniform from `seed` ([seed, 0]): the same bits a
 * compiled step's graph draws from that seed (ml/graph/mlp-graph.ts). Native backend only (undefined otherwise).
 */
export function statelessUniform(shape: readonly number[], seed: number): tf.Tensor | undefined {
  const b = nativeBackend();
  if (!b) return undefined;
  const i32 = b.binding.TF_INT32;
  const attrs = [typeAttr(b, 'dtype', b.binding.TF_FLOAT), typeAttr(b, 'T', i32), typeAttr(b, 'Tseed', i32)];
  return tf.tidy(() =>
    b.executeSingleOutput('StatelessRandomUniform', attrs, [
      tf.tensor1d([...shape], 'int32'),
      tf.tensor1d([seed, 0], 'int32'),
    ]),
  );
}

/** Per-row cross-entropy −Σ p·log softmax(z) and its gradient softmax(z) − p with respect to z. */
export interface SoftmaxCrossEntropy {
  loss: tf.Tensor1D;
  backprop: tf.Tensor2D;
}

/** Against probability rows `targets` (TensorFlow's SoftmaxCrossEntropyWithLogits). */
export function softmaxCrossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
  o: NativeOpOptions = {},
): SoftmaxCrossEntropy {
  const b = o.portable ? undefined : nativeBackend();
  if (!b) {
    const logQ = tf.logSoftmax(logits);
    return { loss: tf.neg(tf.sum<tf.Tensor1D>(tf.mul(targets, logQ), 1)), backprop: tf.sub(tf.exp(logQ), targets) };
  }
  return crossEntropyKernel(
    b,
    'SoftmaxCrossEntropyWithLogits',
    [typeAttr(b, 'T', b.binding.TF_FLOAT)],
    [logits, targets],
  );
}

/** Against integer class labels (TensorFlow's SparseSoftmaxCrossEntropyWithLogits: no one-hot rows). */
export function sparseSoftmaxCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  o: NativeOpOptions = {},
): SoftmaxCrossEntropy {
  const b = o.portable ? undefined : nativeBackend();
  if (!b) return softmaxCrossEntropy(logits, tf.cast(tf.oneHot(labels, logits.shape[1]) as tf.Tensor2D, 'float32'), o);
  const attrs = [typeAttr(b, 'T', b.binding.TF_FLOAT), typeAttr(b, 'Tlabels', b.binding.TF_INT32)];
  return crossEntropyKernel(b, 'SparseSoftmaxCrossEntropyWithLogits', attrs, [logits, labels]);
}

/** One of TensorFlow's two cross-entropy kernels: outputs (per-row loss, backprop). */
function crossEntropyKernel(
  b: NodeKernelBackend,
  name: string,
  attrs: unknown[],
  inputs: tf.Tensor[],
): SoftmaxCrossEntropy {
  const [loss, backprop] = b.executeMultipleOutputs(name, attrs, inputs, 2);
  return { loss: loss as tf.Tensor1D, backprop: backprop as tf.Tensor2D };
}
