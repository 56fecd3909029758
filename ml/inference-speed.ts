/**
 * Inference speed of a layers model on whatever backend is active: single-example latency (what a
 * request-serving deployment sees) and batch-256 throughput (what offline scoring sees).
 */
import * as tf from '@tensorflow/tfjs';

export interface SpeedOptions {
  /** Single-example calls timed after warm-up. @default 200 */
  batch1Calls?: number;
  /** Untimed calls first, so graph set-up and allocation do not count. @default 20 */
  warmup?: number;
  /** Batch-256 calls: at least this many… @default 3 */
  batch256MinCalls?: number;
  /** …and until this many seconds have passed. @default 1 */
  batch256MinSeconds?: number;
}

export interface Speed {
  backend: string;
  batch1: { calls: number; p50Ms: number; p95Ms: number };
  batch256: { calls: number; examplesPerSecond: number };
}

/** The q-quantile (0-1) of sorted values, by the nearest-rank rule. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no values');
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** One forward pass, read back to the host: a call is not done until its output is. */
async function call(model: tf.LayersModel, x: tf.Tensor): Promise<void> {
  const y = model.predict(x) as tf.Tensor;
  await y.data();
  y.dispose();
}

/** Times `model` on random inputs of `inputSize` features; the model takes [batch, inputSize]. */
export async function measureSpeed(model: tf.LayersModel, inputSize: number, opts: SpeedOptions = {}): Promise<Speed> {
  const calls = opts.batch1Calls ?? 200;
  const one = tf.randomUniform([1, inputSize], 0, 1, 'float32', 1);
  const many = tf.randomUniform([256, inputSize], 0, 1, 'float32', 2);
  try {
    for (let i = 0; i < (opts.warmup ?? 20); i++) await call(model, one);
    const ms: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      await call(model, one);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    await call(model, many);
    let n = 0;
    const t0 = performance.now();
    const minMs = (opts.batch256MinSeconds ?? 1) * 1000;
    while (n < (opts.batch256MinCalls ?? 3) || performance.now() - t0 < minMs) {
      await call(model, many);
      n++;
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      backend: tf.getBackend(),
      batch1: { calls, p50Ms: quantile(ms, 0.5), p95Ms: quantile(ms, 0.95) },
      batch256: { calls: n, examplesPerSecond: (n * 256) / seconds },
    };
  } finally {
    one.dispose();
    many.dispose();
  }
}
