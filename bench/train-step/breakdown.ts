/** Where a bench/train-step step's time goes: cumulative prefixes of the step, timed round-robin. */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { distillationLoss } from '../../ml/losses';
import type { Net } from '../../ml/models';
import { median, round } from '../common/stats';

/** A timed step and how it runs; `dispose` frees what it holds (a compiled step's session). */
export interface BenchStep {
  run: () => number;
  path: string;
  dispose: () => void;
}

/**
 * Where the step's time goes, as cumulative prefixes of it (each the median ms of `repeats` runs of
 * min(steps, 20) calls, all ending in a scalar readback so every backend has finished): forward;
 * + loss; + backward (variableGrads, no update); the full step through the tape. Differences give each stage's
 * cost on the tape path; `full_step` is the project's path (for an MLP on native, the compiled step),
 * `full_step_eager` the eager one (ml/train-step.ts).
 * Stages run round-robin, one timed block each per repeat, so a drift in machine speed hits all alike.
 */
export function stepBreakdown(
  net: Net,
  x: tf.Tensor2D,
  y: tf.Tensor1D,
  step: () => number,
  others: { eager: BenchStep; tape: BenchStep },
  a: { steps: number; repeats: number; lr: number },
): Record<string, number> {
  const varList = [...net.params.values()];
  const stages: Record<string, () => unknown> = {
    forward: () => tf.tidy(() => tf.sum(net.forward(x, { training: true })).dataSync()),
    forward_loss: () => tf.tidy(() => distillationLoss(net.forward(x, { training: true }), { labels: y }).dataSync()),
    forward_loss_backward: () =>
      tf.tidy(() =>
        tf
          .variableGrads(() => distillationLoss(net.forward(x, { training: true }), { labels: y }), varList)
          .value.dataSync(),
      ),
    full_step: step,
    // The eager step (ml/train-step.ts): what an MLP took before the compiled step, and the reference it is held to.
    full_step_eager: others.eager.run,
    // The same step through tfjs's tape (what every net took before ml/mlp-step.ts): what the written-out pass saves.
    full_step_tape: others.tape.run,
    // Not the project's path: true gradients, then a bare p -= lr·g (what Optimizer.minimize did
    // before it took plain SGD's gradients of lr·loss). Shows what the folded update saves.
    full_step_plain_sgd: () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => distillationLoss(net.forward(x, { training: true }), { labels: y }),
          varList,
        );
        for (const v of varList) v.assign(tf.sub(v, tf.mul(grads[v.name]!, a.lr)));
        return value.dataSync()[0]!;
      }),
  };
  const n = Math.min(a.steps, 20);
  const ms: Record<string, number[]> = {};
  for (const fn of Object.values(stages)) for (let i = 0; i < 3; i++) fn();
  for (let r = 0; r < a.repeats; r++) {
    for (const [stage, fn] of Object.entries(stages)) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) fn();
      (ms[stage] ??= []).push((performance.now() - t0) / n);
    }
  }
  return Object.fromEntries(Object.entries(ms).map(([stage, xs]) => [stage, round(median(xs), 3)]));
}
