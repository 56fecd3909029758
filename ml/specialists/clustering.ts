/**
 * Confusable subsets for specialists (paper §5): classes that the generalist tends to predict
 * together have similar columns in the covariance of its predicted probabilities, so k-means on
 * those columns groups them. Plain JS in float64 (not tfjs) so that a seed gives the same subsets
 * on every backend; the cost is O(restarts · iterations · C² · k), fine for hundreds of classes.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { tidyValues } from '../tidy-values';

/**
 * C×C covariance (population, ÷n) of the predicted class-probability vectors: `probs` is n×C
 * row-major, one row per example; entry (a, b) is Cov(p_a, p_b).
 */
export function classCovariance(probs: Float32Array, n: number, C: number): Float32Array {
  if (n < 1 || probs.length !== n * C)
    throw new Error(`classCovariance: expected ${n}×${C} probabilities, got ${probs.length} values`);
  return tidyValues(() => {
    const x = tf.tensor2d(probs, [n, C]);
    const centred = tf.sub(x, tf.mean(x, 0, true));
    return tf.div(tf.matMul(centred, centred, true, false), n);
  });
}

export interface ClusterOptions {
  /** Number of subsets (specialists). */
  k: number;
  /** Smallest allowed subset; needs k·minSize ≤ C. @default 1 */
  minSize?: number;
  seed: number;
  /** Lloyd iterations per run (stops earlier once assignments settle). @default 100 */
  iterations?: number;
  /**
   * Independent k-means++ runs; the one with the lowest inertia wins. With dozens of clusters a
   * single run often merges two groups and splits another; 10 runs recovered 30 clean blocks of
   * 300 classes for every seed tried, at ~10 ms per run. @default 10
   */
  restarts?: number;
  /**
   * Scale each column to unit length first (cosine-like k-means). Raw columns (the paper) put all
   * rarely-predicted classes near the origin, i.e. together; normalising groups by pattern only.
   * @default false
   */
  normalize?: boolean;
}

/**
 * Partitions the C classes into k disjoint, non-empty subsets by k-means on the covariance's
 * columns (each class is a C-dim point). Each subset is sorted; subsets are ordered by their
 * smallest class. Deterministic for a seed.
 */
export function clusterClasses(cov: Float32Array, C: number, opts: ClusterOptions): number[][] {
  const { k, seed } = opts;
  const minSize = opts.minSize ?? 1;
  if (cov.length !== C * C) throw new Error(`clusterClasses: expected a ${C}×${C} matrix, got ${cov.length} values`);
  if (!Number.isInteger(k) || k < 1 || k > C)
    throw new Error(`clusterClasses: k must be an integer in [1, ${C}], got ${k}`);
  if (!Number.isInteger(minSize) || minSize < 1 || k * minSize > C)
    throw new Error(`clusterClasses: minSize ${minSize} × k ${k} exceeds ${C} classes`);

  const points = columns(cov, C, opts.normalize ?? false);
  const rng = new Rng(seed);
  let best: { assign: Int32Array; inertia: number } | undefined;
  for (let r = 0; r < Math.max(1, opts.restarts ?? 10); r++) {
    const run = kmeans(points, C, k, opts.iterations ?? 100, rng);
    if (!best || run.inertia < best.inertia) best = run;
  }
  const assign = enforceMinSize(points, C, k, best!.assign, minSize);

  const subsets = Array.from({ length: k }, () => [] as number[]);
  assign.forEach((j, c) => subsets[j]!.push(c));
  return subsets.sort((a, b) => a[0]! - b[0]!);
}

/** Point c = column c of the matrix, as row c of a C×C float64 array. */
function columns(cov: Float32Array, C: number, normalize: boolean): Float64Array {
  const p = new Float64Array(C * C);
  for (let c = 0; c < C; c++) {
    let norm = 0;
    for (let r = 0; r < C; r++) norm += cov[r * C + c]! ** 2;
    const scale = normalize && norm > 0 ? 1 / Math.sqrt(norm) : 1;
    for (let r = 0; r < C; r++) p[c * C + r] = cov[r * C + c]! * scale;
  }
  return p;
}

function dist2(p: Float64Array, i: number, centres: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += (p[i * d + t]! - centres[j * d + t]!) ** 2;
  return s;
}

/** k-means++ seeding, then Lloyd iterations; an emptied cluster takes the worst-fitted point. */
function kmeans(
  p: Float64Array,
  n: number,
  k: number,
  iterations: number,
  rng: Rng,
): { assign: Int32Array; inertia: number } {
  const d = n;
  const centres = new Float64Array(k * d);
  const setCentre = (j: number, i: number): void => centres.set(p.subarray(i * d, i * d + d), j * d);
  setCentre(0, rng.int(0, n - 1));
  const near = Float64Array.from({ length: n }, (_, i) => dist2(p, i, centres, 0, d));
  for (let j = 1; j < k; j++) {
    const total = near.reduce((a, b) => a + b, 0);
    let pick = n - 1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < n; i++)
        if ((r -= near[i]!) < 0) {
          pick = i;
          break;
        }
    } else pick = rng.int(0, n - 1); // all points already coincide with centres
    setCentre(j, pick);
    for (let i = 0; i < n; i++) near[i] = Math.min(near[i]!, dist2(p, i, centres, j, d));
  }

  const assign = new Int32Array(n).fill(-1);
  const counts = new Int32Array(k);
  for (let it = 0; it < iterations; it++) {
    let changed = false;
    for (let i = 0; i < n; i++) {
      let bestJ = 0;
      let bestD = Infinity;
      for (let j = 0; j < k; j++) {
        const dj = dist2(p, i, centres, j, d);
        if (dj < bestD) {
          bestD = dj;
          bestJ = j;
        }
      }
      if (assign[i] !== bestJ) {
        assign[i] = bestJ;
        changed = true;
      }
    }
    if (!changed) break;
    centres.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const j = assign[i]!;
      counts[j]! += 1;
      for (let t = 0; t < d; t++) centres[j * d + t]! += p[i * d + t]!;
    }
    for (let j = 0; j < k; j++) if (counts[j]! > 0) for (let t = 0; t < d; t++) centres[j * d + t]! /= counts[j]!;
    for (let j = 0; j < k; j++) {
      if (counts[j]! > 0) continue;
      let worst = -1;
      let worstD = -1;
      for (let i = 0; i < n; i++) {
        if (counts[assign[i]!]! < 2) continue;
        const di = dist2(p, i, centres, assign[i]!, d);
        if (di > worstD) {
          worstD = di;
          worst = i;
        }
      }
      counts[assign[worst]!]! -= 1;
      assign[worst] = j;
      counts[j] = 1;
      setCentre(j, worst);
    }
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) inertia += dist2(p, i, centres, assign[i]!, d);
  return { assign, inertia };
}

/**
 * Grows each undersized cluster (smallest first) with the points nearest its centroid, taken only
 * from clusters that can spare them (size > minSize), so the count stays k and no donor drops
 * below minSize. Terminates because k·minSize ≤ C guarantees enough spare points.
 */
function enforceMinSize(p: Float64Array, n: number, k: number, assign: Int32Array, minSize: number): Int32Array {
  const d = n;
  const out = Int32Array.from(assign);
  const sizes = new Int32Array(k);
  out.forEach((j) => (sizes[j]! += 1));
  for (;;) {
    let small = -1;
    for (let j = 0; j < k; j++) if (sizes[j]! < minSize && (small < 0 || sizes[j]! < sizes[small]!)) small = j;
    if (small < 0) return out;
    const centre = new Float64Array(d);
    out.forEach((j, i) => {
      if (j === small) for (let t = 0; t < d; t++) centre[t]! += p[i * d + t]! / sizes[small]!;
    });
    const candidates: Array<{ i: number; d: number }> = [];
    out.forEach((j, i) => {
      if (j !== small) candidates.push({ i, d: dist2(p, i, centre, 0, d) });
    });
    candidates.sort((a, b) => a.d - b.d || a.i - b.i);
    for (const { i } of candidates) {
      if (sizes[small]! >= minSize) break;
      const from = out[i]!;
      if (sizes[from]! <= minSize) continue;
      sizes[from]! -= 1;
      sizes[small]! += 1;
      out[i] = small;
    }
  }
}
