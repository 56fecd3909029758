/**
 * What a model costs to deploy (size, speed) and how costs combine. Types and pure arithmetic only,
 * so the workflow sandbox can import it.
 */

/** Inference speed of one model on one backend, measured on its exported layers model. */
export interface InferenceSpeed {
  /** The tfjs backend measured: "tensorflow" (native) on the worker, "cpu" or "wasm" for plain tfjs. */
  backend: string;
  /** Latency of single-example calls after warm-up. */
  batch1: { calls: number; p50Ms: number; p95Ms: number };
  /** Examples per second of batch-256 calls. */
  batch256: { calls: number; examplesPerSecond: number };
}

/** What a model costs to deploy: size and speed. An ensemble's cost is the sum of its members'. */
export interface ModelCost {
  parameters: number;
  /** Bytes of the exported layers model: model.json plus its weights. */
  exportBytes: number;
  native: InferenceSpeed;
  /** Plain @tensorflow/tfjs without the native addon: what a browser or an edge device gets. */
  plain: InferenceSpeed;
}

/**
 * The cost of running several models on every input (an ensemble, a generalist with its specialists):
 * sizes and latencies add, and so do the times per example, so throughput combines harmonically.
 * `weights` scales each member (e.g. the fraction of inputs a specialist fires on). @default all 1
 */
export function sumCosts(costs: readonly ModelCost[], weights?: readonly number[]): ModelCost {
  const w = (i: number) => weights?.[i] ?? 1;
  const add = (f: (c: ModelCost) => number) => costs.reduce((a, c, i) => a + w(i) * f(c), 0);
  const speed = (pick: (c: ModelCost) => InferenceSpeed): InferenceSpeed => ({
    backend: costs.length > 0 ? pick(costs[0]!).backend : 'none',
    batch1: {
      calls: Math.min(...costs.map((c) => pick(c).batch1.calls)),
      p50Ms: add((c) => pick(c).batch1.p50Ms),
      p95Ms: add((c) => pick(c).batch1.p95Ms),
    },
    batch256: {
      calls: Math.min(...costs.map((c) => pick(c).batch256.calls)),
      examplesPerSecond: 1 / add((c) => 1 / pick(c).batch256.examplesPerSecond),
    },
  });
  return {
    parameters: Math.round(add((c) => c.parameters)),
    exportBytes: Math.round(add((c) => c.exportBytes)),
    native: speed((c) => c.native),
    plain: speed((c) => c.plain),
  };
}
