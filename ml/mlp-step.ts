/**
 * An MLP's training step with its backward pass written out: the distillation loss's gradient with respect to the
 * logits in closed form, then per layer a weight gradient, a bias gradient and the input gradient through dropout
 * and the ReLU (TensorFlow's ReluGrad). Same mathematics as differentiating ml/losses.ts's distillationLoss through
 * ml/models.ts's pass with tfjs's tape, in ~30 ops instead of ~80 and without the tape's bookkeeping; the two
 * differ by float rounding only (test/unit/mlp-step.test.ts). Top-k targets and other nets take the tape
 * (ml/train-step.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { MlpSpec, Net } from './models';
import { mlpPass } from './models';
import { reluGrad, softmaxCrossEntropy, sparseSoftmaxCrossEntropy } from './native-ops';
import type { NativeOpOptions } from './native-ops';
import type { Optimizer } from './optimizers';
import type { Rng } from './rng';
import { scoped } from './tidy-values';

/** One batch's inputs to a step. */
export interface StepBatch {
  x: tf.Tensor2D;
  labels: tf.Tensor1D;
  /** Teacher probabilities at T over every class (top-k buckets take ml/train-step.ts's tape path). */
  softTargets?: tf.Tensor2D | undefined;
  /** @default 1 */
  temperature?: number | undefined;
  /** Weight of the soft term. @default 1 with soft targets, else 0 */
  alpha?: number | undefined;
}

/** What a step reports: the batch's mean loss (as distillationLoss reads) and how many rows it got right. */
export interface StepResult {
  loss: number;
  correct: number;
}

/** The loss's value and its gradient with respect to the logits, scaled by `scale` (already / batch size). */
function lossGradient(
  logits: tf.Tensor2D,
  batch: StepBatch,
  scale: number,
  o: NativeOpOptions,
): { loss: tf.Scalar; dLogits: tf.Tensor2D } {
  const n = logits.shape[0];
  const T = batch.temperature ?? 1;
  const alpha = batch.softTargets ? (batch.alpha ?? 1) : 0;
  const losses: tf.Scalar[] = [];
  const grads: tf.Tensor2D[] = [];
  // Each term's weight multiplies a scalar or folds into the gradient's one scaling op: no op for a weight of 1.
  const weighted = (x: tf.Scalar, w: number): tf.Scalar => (w === 1 ? x : tf.mul(w, x));
  if (alpha > 0 && batch.softTargets) {
    const p = batch.softTargets;
    const ce = softmaxCrossEntropy(T === 1 ? logits : tf.div<tf.Tensor2D>(logits, T), p, o);
    // KL = CE − H(p), as softKl reports it; d(α·T²·KL)/dz = α·T·(softmax(z/T) − p).
    const negEntropy = tf.sum(tf.mul(p, tf.log(tf.maximum(p, 1e-30))), 1);
    losses.push(weighted(tf.mean(tf.add(ce.loss, negEntropy)), alpha * T * T));
    grads.push(tf.mul(ce.backprop, (alpha * T * scale) / n));
  }
  if (alpha < 1) {
    const ce = sparseSoftmaxCrossEntropy(logits, batch.labels, o);
    losses.push(weighted(tf.mean(ce.loss), 1 - alpha));
    grads.push(tf.mul(ce.backprop, ((1 - alpha) * scale) / n));
  }
  const sum = <X extends tf.Tensor>(xs: X[]): X => (xs.length === 1 ? xs[0]! : tf.add(xs[0]!, xs[1]!));
  return { loss: sum(losses), dLogits: sum(grads) };
}

/** Gradients of `scale`·loss for every parameter of the MLP, by name. */
function mlpGradients(
  spec: MlpSpec,
  net: Net,
  batch: StepBatch,
  rng: Rng,
  scale: number,
  o: NativeOpOptions,
): { loss: tf.Scalar; logits: tf.Tensor2D; grads: Map<string, tf.Tensor> } {
  const pass = mlpPass(spec, net.params, batch.x, true, rng);
  const { loss, dLogits } = lossGradient(pass.logits, batch, scale, o);
  const grads = new Map<string, tf.Tensor>();
  let dz = dLogits;
  for (let i = pass.inputs.length - 1; i >= 0; i--) {
    grads.set(`w${i}`, tf.matMul(pass.inputs[i]!, dz, true, false));
    grads.set(`b${i}`, tf.sum(dz, 0));
    if (i === 0) break;
    let da = tf.matMul<tf.Tensor2D>(dz, net.params.get(`w${i}`)!, false, true);
    const multiplier = pass.multipliers[i];
    if (multiplier) da = tf.mul(da, multiplier);
    dz = reluGrad(da, pass.activations[i - 1]!, o);
  }
  return { loss, logits: pass.logits, grads };
}

/** Rows of `logits` whose largest entry is at the label. */
export function correctRows(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'));
}

/**
 * One optimiser step of an MLP net on `batch`, dropout drawn from `rng` as its forward pass draws it. Plain SGD's
 * gradients come scaled by lr (Optimizer.gradientScale), as Optimizer.minimize takes them.
 */
export function mlpStep(
  net: Net,
  opt: Optimizer,
  batch: StepBatch,
  lr: number,
  rng: Rng,
  o: NativeOpOptions = {},
): StepResult {
  if (net.spec.kind !== 'mlp') throw new Error(`mlpStep needs an MLP, got a ${net.spec.kind} net`);
  const spec = net.spec;
  const scale = opt.gradientScale(lr);
  return scoped(() => {
    const { loss, logits, grads } = mlpGradients(spec, net, batch, rng, scale, o);
    const correct = correctRows(logits, batch.labels);
    opt.apply(grads, lr, scale !== 1);
    return { loss: loss.dataSync()[0]!, correct: correct.dataSync()[0]! };
  });
}
