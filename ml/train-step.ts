/**
 * One optimiser step of any net on one batch: an MLP with full soft targets (or none) takes ml/mlp-step.ts's
 * written-out backward pass; every other net, and top-k targets, take tfjs's tape over distillationLoss.
 */
import * as tf from '@tensorflow/tfjs';
import type { KeptClassTargets } from './losses';
import { distillationLoss } from './losses';
import { correctRows, mlpStep } from './mlp-step';
import type { StepBatch, StepResult } from './mlp-step';
import type { Net } from './models';
import type { Optimizer } from './optimizers';
import type { Rng } from './rng';
import { scoped } from './tidy-values';

export type { StepResult } from './mlp-step';

/** A batch whose soft targets may be top-k buckets. */
export interface TrainBatch extends Omit<StepBatch, 'softTargets'> {
  softTargets?: tf.Tensor2D | KeptClassTargets | undefined;
}

/** Which path a step takes; `tape` forces tfjs's autodiff (the bench and the tests compare the two). */
export type StepPath = 'auto' | 'tape';

function isFull(t: TrainBatch['softTargets']): t is tf.Tensor2D | undefined {
  return t === undefined || t instanceof tf.Tensor;
}

/** One step on `batch` at learning rate `lr`, dropout drawn from `rng`; the batch's loss and correct rows. */
export function trainStep(
  net: Net,
  opt: Optimizer,
  batch: TrainBatch,
  lr: number,
  rng: Rng,
  path: StepPath = 'auto',
): StepResult {
  const { softTargets } = batch;
  if (path === 'auto' && net.spec.kind === 'mlp' && isFull(softTargets))
    return mlpStep(net, opt, { ...batch, softTargets }, lr, rng);
  return tapeStep(net, opt, batch, lr, rng);
}

function tapeStep(net: Net, opt: Optimizer, batch: TrainBatch, lr: number, rng: Rng): StepResult {
  return scoped(() => {
    let hits: tf.Tensor | undefined;
    const loss = opt.minimize(() => {
      const logits = net.forward(batch.x, { training: true, rng });
      // Kept out of variableGrads' internal tidy so accuracy can be read after the step.
      hits = tf.keep(correctRows(logits, batch.labels));
      return distillationLoss(logits, {
        labels: batch.labels,
        temperature: batch.temperature ?? 1,
        ...(batch.softTargets ? { softTargets: batch.softTargets, alpha: batch.alpha ?? 1 } : {}),
      });
    }, lr);
    const correct = hits!.dataSync()[0]!;
    hits!.dispose();
    return { loss, correct };
  });
}
