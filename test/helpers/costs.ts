/** Model costs for report tests: round numbers whose ratios and formatted cells are easy to state. */
import type { InferenceSpeed, ModelCost } from '../../common/model-cost';

export const speed = (backend: string, p50Ms: number, examplesPerSecond: number): InferenceSpeed => ({
  backend,
  batch1: { calls: 200, p50Ms, p95Ms: p50Ms * 1.4 },
  batch256: { calls: 20, examplesPerSecond },
});

/** Export size 4 bytes a parameter + 2000; plain tfjs 6× slower at batch 1 and 8× at batch 256. */
export const cost = (parameters: number, p50Ms: number, examplesPerSecond: number): ModelCost => ({
  parameters,
  exportBytes: parameters * 4 + 2000,
  native: speed('tensorflow', p50Ms, examplesPerSecond),
  plain: speed('cpu', p50Ms * 6, examplesPerSecond / 8),
});
