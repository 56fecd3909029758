/**
 * The SGEMM reference of bench/train-step: raw tf.matMul GFLOP/s at pytorch_bench.py's shapes, context for how
 * close the backend's GEMM gets to the machine's peak.
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { median, round } from '../common/stats';

/** (M, K, N) for C[M,N] = A[M,K] @ B[K,N]; see pytorch_bench.py for why these three. */
const SGEMM_SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [128, 784, 800],
  [784, 128, 800],
];

/** Median GFLOP/s of fn over `repeats` runs of ~minSeconds each (same calibration as pytorch_bench.py). */
function timeGflops(
  fn: () => void,
  flops: number,
  minSeconds: number,
  repeats: number,
): { med: number; all: number[] } {
  fn();
  let n = 1;
  let t = 0;
  while (t < minSeconds / 4) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    t = (performance.now() - t0) / 1e3;
    n *= 2;
  }
  n = Math.max(1, Math.floor(((n / 2) * minSeconds) / Math.max(t, 1e-9)));
  const all: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    all.push((n * flops) / ((performance.now() - t0) / 1e3) / 1e9);
  }
  return { med: median(all), all };
}

/** What the SGEMM reference needs of the bench's arguments. */
export interface SgemmArgs {
  seed: number;
  sgemmSeconds: number;
  repeats: number;
}

/** GFLOP/s of tf.matMul at each shape, and at the weight gradient's shape with transposeA as the step runs it. */
export function benchSgemm(a: SgemmArgs, log: (msg: string) => void): Record<string, unknown>[] {
  // The weight gradient's shape once more, the way the step really computes it: X^T·dY with X
  // stored [K=128, M=784], i.e. matMul(X, dY, transposeA=true); the plain row is the reference.
  const shapes: [number, number, number, boolean][] = [
    ...SGEMM_SHAPES.map(([m, k, n]): [number, number, number, boolean] => [m, k, n, false]),
    [784, 128, 800, true],
  ];
  return shapes.map(([m, k, n, transposeA]) => {
    const A = tf.randomNormal(transposeA ? [k, m] : [m, k], 0, 1, 'float32', a.seed);
    const B = tf.randomNormal([k, n], 0, 1, 'float32', a.seed + 1);
    // tfjs has no out= parameter: the result is allocated and disposed every call, as in a real step.
    // dataSync-free: both backends execute matMul synchronously, so the op is done when it returns.
    const { med, all } = timeGflops(
      () => tf.matMul(A, B, transposeA).dispose(),
      2 * m * n * k,
      a.sgemmSeconds,
      a.repeats,
    );
    A.dispose();
    B.dispose();
    log(`  sgemm ${m}x${k}x${n}${transposeA ? ' (A transposed)' : ''}: ${med.toFixed(1)} GFLOP/s`);
    return {
      m,
      k,
      n,
      ...(transposeA ? { transpose_a: true } : {}),
      gflop_per_s: round(med, 2),
      all: all.map((r) => round(r, 2)),
    };
  });
}
