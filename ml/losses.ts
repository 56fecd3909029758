/**
 * The distillation objective (paper §2):
 *   α·T²·CE(softmax(z_t/T), softmax(z_s/T)) + (1−α)·CE(y, softmax(z_s))
 * (the soft CE is computed as a KL divergence: identical gradient, and a loss that reads 0 at a perfect match).
 * The soft term's gradient w.r.t. a student logit is (1/T)(q − p); T² restores its scale so the
 * balance between the two terms does not drift when T changes.
 */
import * as tf from '@tensorflow/tfjs';

/** Mean over the batch of −Σ_c targets·log softmax(logits). */
export function softCrossEntropy(targets: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar);
}

/**
 * Mean over the batch of KL(targets ‖ softmax(logits)) = cross-entropy − entropy(targets). Same
 * gradient as the cross-entropy; reported instead because it reaches 0 when the student matches.
 */
export function softKl(targets: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const entropy = tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.log(tf.maximum(targets, 1e-30))), 1)));
    return tf.sub<tf.Scalar>(softCrossEntropy(targets, logits), entropy);
  });
}

export interface DistillationTerms {
  /** Integer class labels for the hard term; omit when α = 1. */
  labels?: tf.Tensor1D;
  /** Teacher probabilities at temperature T; omit for a hard-label-only model. */
  softTargets?: tf.Tensor2D;
  /** @default 1 */
  temperature?: number;
  /** Weight of the soft term in [0, 1]. @default 0 when no soft targets, else 1 */
  alpha?: number;
}

export function distillationLoss(studentLogits: tf.Tensor2D, terms: DistillationTerms): tf.Scalar {
  return tf.tidy(() => {
    const T = terms.temperature ?? 1;
    const alpha = terms.softTargets ? (terms.alpha ?? 1) : 0;
    let loss: tf.Scalar = tf.scalar(0);
    if (alpha > 0 && terms.softTargets) {
      loss = tf.add(loss, tf.mul(alpha * T * T, softKl(terms.softTargets, tf.div(studentLogits, T))));
    }
    if (alpha < 1) {
      if (!terms.labels) throw new Error('hard-label term needs labels (alpha < 1)');
      const onehot = tf.oneHot(terms.labels, studentLogits.shape[1]).toFloat() as tf.Tensor2D;
      loss = tf.add(loss, tf.mul(1 - alpha, softCrossEntropy(onehot, studentLogits)));
    }
    return loss;
  });
}

export type EnsembleMode = 'arithmetic' | 'geometric';

/**
 * Teacher soft targets at temperature T from stored member logits ([members][n×C], row-major).
 * Arithmetic: mean of the members' softmax(z/T). Geometric: softmax(mean z / T).
 */
export function softTargetsAt(
  memberLogits: Float32Array[],
  n: number,
  numClasses: number,
  T: number,
  mode: EnsembleMode,
): Float32Array {
  return tf.tidy(() => {
    const stacked = tf.stack(memberLogits.map((l) => tf.tensor2d(l, [n, numClasses])));
    const probs =
      mode === 'arithmetic' ? tf.mean(tf.softmax(tf.div(stacked, T)), 0) : tf.softmax(tf.div(tf.mean(stacked, 0), T));
    return probs.dataSync() as Float32Array;
  });
}
