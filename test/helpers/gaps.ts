/** Comparing the eager and compiled training paths: a step of each, and named tensors (weights, slots). */
import assert from 'node:assert/strict';
import type * as tf from '@tensorflow/tfjs';
import type { Net, Optimizer, Rng } from '../../ml';
import type { RawTensor } from '../../common/raw-tensor';
import type { CompiledStep } from '../../ml/compiled-step';
import { trainStep } from '../../ml/train-step';

/** Largest |a − b| over every named tensor, relative to the largest |b|. */
export function relativeGap(a: Record<string, RawTensor>, b: Record<string, RawTensor>): number {
  let gap = 0;
  let scale = 0;
  for (const [k, tb] of Object.entries(b)) {
    const ta = a[k];
    assert.ok(ta, `${k} present on both sides`);
    assert.deepEqual(ta.shape, tb.shape, `${k}: shape`);
    for (let i = 0; i < tb.data.length; i++) {
      gap = Math.max(gap, Math.abs(Number(ta.data[i]) - Number(tb.data[i])));
      scale = Math.max(scale, Math.abs(Number(tb.data[i])));
    }
  }
  return gap / Math.max(scale, 1e-30);
}

/** A batch both paths step on; soft targets are used only with `soft`. */
export interface PathBatch {
  x: tf.Tensor2D;
  labels: tf.Tensor1D;
  softTargets: tf.Tensor2D;
}

/**
 * One step of the eager path (trainStep, then the net's constraints) and the compiled one on `b`, asserting the
 * same loss (1e-5 relative) and correct rows; `soft`: the soft term's weight α and T, else hard labels only.
 */
export function stepBoth(
  paths: { eager: Net; opt: Optimizer; compiled: CompiledStep },
  b: PathBatch,
  lr: number,
  soft: { alpha: number; temperature: number } | undefined,
  rngs: [Rng, Rng],
  step: number,
): void {
  const T = soft?.temperature ?? 1;
  const terms = soft ? { softTargets: b.softTargets, temperature: T, alpha: soft.alpha } : {};
  const want = trainStep(paths.eager, paths.opt, { x: b.x, labels: b.labels, ...terms }, lr, rngs[0]);
  paths.eager.applyConstraints();
  const batch = { x: b.x, labels: b.labels, ...(soft ? { softTargets: b.softTargets } : {}) };
  const got = paths.compiled.step(batch, lr, T, soft?.alpha ?? 1, rngs[1]);
  assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * Math.abs(want.loss), `step ${step}: ${got.loss} vs ${want.loss}`);
  assert.equal(got.correct, want.correct, `step ${step}: correct rows`);
}
