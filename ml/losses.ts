/**
 * The distillation objective (paper §2):
 *   α·T²·CE(softmax(z_t/T), softmax(z_s/T)) + (1−α)·CE(y, softmax(z_s))
 * (the soft CE is computed as a KL divergence: identical gradient, and a loss that reads 0 at a perfect match).
 * The soft term's gradient w.r.t. a student logit is (1/T)(q − p); T² restores its scale so the
 * balance between the two terms does not drift when T changes.
 */
import * as tf from '@tensorflow/tfjs';
import type { EnsembleRule } from '../contracts/vocabulary';
import { tidyValues } from './tidy-values';

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

/** A batch of top-k soft targets (ml/soft-targets.ts): the teacher's probabilities at T per bucket. */
export interface KeptClassTargets {
  /** Probabilities of the kept classes, 0 at the others (batch × C). */
  kept: tf.Tensor2D;
  /** 1 at the kept classes, 0 at the others (batch × C). */
  mask: tf.Tensor2D;
  /** The rest bucket's probability: every class not kept, together (batch × 1). */
  rest: tf.Tensor2D;
}

/** Pushes kept logits out of the student's rest logsumexp: exp(z − 1e30) is 0, and its gradient finite. */
const OUTSIDE_REST = 1e30;

/** Σ_c p·log p per row, with 0·log 0 = 0. */
function plogp(p: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(p, tf.log(tf.maximum(p, 1e-30))), 1);
}

/**
 * Mean over the batch of KL over the buckets {each kept class, the rest}: the teacher's bucket probabilities
 * against the student's, whose rest is the logsumexp of its non-kept logits (minus its log-partition). With
 * every class kept the rest is empty (probability 0 on both sides) and this is {@link softKl}.
 */
export function keptClassKl(targets: KeptClassTargets, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logZ = tf.logSumExp(logits, 1, true);
    const logQ = tf.sub(logits, logZ);
    const restLogQ = tf.sub(tf.logSumExp(tf.sub(logits, tf.mul(targets.mask, OUTSIDE_REST)), 1, true), logZ);
    const cross = tf.add(tf.sum(tf.mul(targets.kept, logQ), 1), tf.sum(tf.mul(targets.rest, restLogQ), 1));
    const entropy = tf.add(plogp(targets.kept), plogp(targets.rest));
    return tf.mean<tf.Scalar>(tf.sub(entropy, cross));
  });
}

export interface DistillationTerms {
  /** Integer class labels for the hard term; omit when α = 1. */
  labels?: tf.Tensor1D;
  /** Teacher probabilities at temperature T (all classes, or top-k buckets); omit for a hard-label-only model. */
  softTargets?: tf.Tensor2D | KeptClassTargets;
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
      const scaled = tf.div<tf.Tensor2D>(studentLogits, T);
      const soft = terms.softTargets;
      const kl = 'mask' in soft ? keptClassKl(soft, scaled) : softKl(soft, scaled);
      loss = tf.add(loss, tf.mul(alpha * T * T, kl));
    }
    if (alpha < 1) {
      if (!terms.labels) throw new Error('hard-label term needs labels (alpha < 1)');
      const onehot = tf.oneHot(terms.labels, studentLogits.shape[1]).toFloat() as tf.Tensor2D;
      loss = tf.add(loss, tf.mul(1 - alpha, softCrossEntropy(onehot, studentLogits)));
    }
    return loss;
  });
}

/**
 * Teacher soft targets at temperature T from stored member logits ([members][n×C], row-major).
 * Arithmetic: mean of the members' softmax(z/T). Geometric: softmax(mean z / T).
 */
export function softTargetsAt(
  memberLogits: Float32Array[],
  n: number,
  numClasses: number,
  T: number,
  mode: EnsembleRule,
): Float32Array {
  // In chunks of rows: every op is row-wise, so the result is that of one piece (up to the last bit where a
  // vectorised kernel rounds a row at another offset), and memory is one chunk's: one piece of 1.1 M × 10 held
  // ~650 MB of native intermediates (bench/scale).
  const out = new Float32Array(n * numClasses);
  for (let start = 0; start < n; start += ENSEMBLE_CHUNK_ROWS) {
    const rows = Math.min(ENSEMBLE_CHUNK_ROWS, n - start);
    const part = tidyValues(() => {
      const slice = (l: Float32Array) => l.subarray(start * numClasses, (start + rows) * numClasses);
      const stacked = tf.stack<tf.Tensor2D>(memberLogits.map((l) => tf.tensor2d(slice(l), [rows, numClasses])));
      return ensembleAt(stacked as tf.Tensor3D, T, mode);
    });
    out.set(part, start * numClasses);
  }
  return out;
}

/** Rows {@link softTargetsAt} combines at a time. */
export const ENSEMBLE_CHUNK_ROWS = 16_384;

/**
 * The ensemble's probabilities at temperature T from its members' logits [members, n, C]: the mean of their
 * softmaxes (arithmetic), or the softmax of their mean logits (geometric).
 */
export function ensembleAt(stacked: tf.Tensor3D, T: number, mode: EnsembleRule): tf.Tensor2D {
  return tf.tidy(() =>
    mode === 'arithmetic'
      ? tf.mean<tf.Tensor2D>(tf.softmax(tf.div(stacked, T)), 0)
      : tf.softmax(tf.div<tf.Tensor2D>(tf.mean(stacked, 0), T)),
  );
}
