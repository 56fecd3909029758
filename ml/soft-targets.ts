/**
 * Soft targets in their stored forms (config `softTargets`; the method and its measurements: docs/SOFT-TARGETS.md).
 *
 * - full: `logits` [members, n, C] in float32 (the default, byte for byte what every earlier run stored) or float16.
 * - top-k: per example the k classes the teacher ensemble finds most probable, `classes` [n, k] (uint8, or uint16
 *   past 256 classes), shared by all members; each member's logits of those classes, `values` [members, n, k]; and
 *   each member's `rest` [members, n, 2]: the mean μ and the log-mean-exp ℓ of the logits of the other r = C − k
 *   classes. Arithmetic ensembles keep every teacher as a member; a geometric ensemble is one member, the teachers'
 *   mean logits, since softmax(mean z / T) needs nothing else (its rest is not derivable from per-teacher rests).
 *
 * The rest bucket at temperature T. Its true mass is S(T) = Σ_rest exp(z/T) = r·M_p^p, where M_p is the
 * power mean (of order p = 1/T) of exp(z) over the rest. T is chosen per student after storage, so the stored
 * numbers must not depend on it. log M_p rises with p from log M_0 = μ (as T → ∞) to log M_1 = ℓ (T = 1);
 * we interpolate linearly between the two: log S(T) ≈ log r + μ/T + (ℓ − μ)/T². That is exact at T = 1,
 * exact to first order in 1/T as T → ∞, exact at every T when the rest logits are normally distributed
 * (then log M_p = μ + pσ²/2) or all equal (r = 1 included), and with T ≥ 1 always between the two
 * one-number rules it improves on (all rest logits at their mean, an underestimate by Jensen; or at ℓ, an
 * overestimate), by 2-40× in KL on trained teachers (docs/SOFT-TARGETS.md). Below T = 1 (p > 1)
 * extrapolating can exceed the rest's largest logit, so there the T = 1 value is used:
 * log S(T) ≈ log r + ℓ/T, low by at most log(r)/T.
 *
 * The student is then compared with the teacher over the k kept classes plus one rest bucket
 * ({@link keptClassKl}); with k = C there is no rest and it is the full loss.
 */
import * as tf from '@tensorflow/tfjs';
import type { RawTensor } from '../common/raw-tensor';
import type { SoftTargetFormat } from '../common/soft-target-format';
import type { EnsembleRule } from '../contracts/vocabulary';
import type { KeptClassTargets } from './losses';
import { softTargetsAt } from './losses';
import { float16Bits, float16Value } from './quantize';

/** The largest finite half: every stored value except full float32 is saturated to ±this, so none is infinite. */
export const FLOAT16_MAX = 65504;

/** Teacher probabilities at T over each example's kept classes and one rest bucket. */
export interface KeptTargets {
  k: number;
  numClasses: number;
  /** The kept classes, n × k, row-major. */
  classes: Int32Array;
  /** n × (k + 1): the kept classes' probabilities, then the rest bucket's. */
  probs: Float32Array;
}

/** What training gets: dense probabilities (n × C) from full logits, or kept-class targets from top-k ones. */
export type StoredSoftTargets = Float32Array | KeptTargets;

const clamp = (v: number) => Math.min(FLOAT16_MAX, Math.max(-FLOAT16_MAX, v));

function toPrecision(values: Float32Array, precision: SoftTargetFormat['precision']): RawTensor['data'] {
  if (precision === 'float32') return values.map(clamp);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(clamp(values[i]!));
  return out;
}

/** Float32 values of a stored float32 or float16 tensor (float32 data as they are, not copied). */
export function storedValues(t: RawTensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  if (t.dtype === 'float16') {
    // A plain loop: a typed array's `from` with a mapping function is ~40× slower per element.
    const bits = t.data as Uint16Array;
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = float16Value(bits[i]!);
    return out;
  }
  throw new Error(`soft targets: expected float32 or float16 values, got ${t.dtype}`);
}

/**
 * The tensors to store for teacher logits (`members[j]`: n × C, row-major) in `format` (undefined: full float32,
 * exactly the tensor every earlier run stored).
 */
export function encodeSoftTargets(
  members: Float32Array[],
  n: number,
  C: number,
  format: SoftTargetFormat | undefined,
): Record<string, RawTensor> {
  const shape = [members.length, n, C];
  const all = new Float32Array(members.length * n * C);
  members.forEach((m, j) => all.set(m, j * n * C));
  if (!format) return { logits: { dtype: 'float32', shape, data: all } };
  if (format.topK === undefined)
    return { logits: { dtype: format.precision, shape, data: toPrecision(all, format.precision) } };
  const k = format.topK;
  if (!(Number.isInteger(k) && k >= 1 && k <= C))
    throw new RangeError(`top-k soft targets: k = ${k} with ${C} classes`);
  const stored = format.ensemble === 'geometric' && members.length > 1 ? [meanLogits(members, n * C)] : members;
  const classes = keptClasses(stored, n, C, k, format.ensemble === 'geometric');
  const values = new Float32Array(stored.length * n * k);
  const rest = new Float32Array(stored.length * n * 2);
  stored.forEach((z, j) => {
    for (let i = 0; i < n; i++) {
      const row = z.subarray(i * C, (i + 1) * C).map(clamp);
      const kept = classes.subarray(i * k, (i + 1) * k);
      kept.forEach((c, s) => (values[(j * n + i) * k + s] = row[c]!));
      rest.set(restStatistics(row, kept), (j * n + i) * 2);
    }
  });
  return {
    classes: {
      dtype: C <= 256 ? 'uint8' : 'uint16',
      shape: [n, k],
      data: (C <= 256 ? Uint8Array : Uint16Array).from(classes),
    },
    values: { dtype: format.precision, shape: [stored.length, n, k], data: toPrecision(values, format.precision) },
    rest: { dtype: format.precision, shape: [stored.length, n, 2], data: toPrecision(rest, format.precision) },
  };
}

/** Members a stored soft-target tensor set holds (1 for a geometric ensemble's top-k set). */
export function storedMembers(tensors: Record<string, RawTensor>): number {
  return (tensors['values'] ?? tensors['logits'])!.shape[0]!;
}

function meanLogits(members: Float32Array[], size: number): Float32Array {
  const mean = new Float32Array(size);
  for (const m of members) for (let i = 0; i < size; i++) mean[i]! += m[i]! / members.length;
  return mean;
}

/**
 * Per example, the k classes the ensemble finds most probable: by mean logit (the geometric rule's order at every
 * T), or by the mean of the members' probabilities at T = 1 (the arithmetic ensemble's prediction). Ties: lower id.
 */
function keptClasses(members: Float32Array[], n: number, C: number, k: number, byMeanLogit: boolean): Int32Array {
  const out = new Int32Array(n * k);
  const score = new Float64Array(C);
  const ids = Array.from({ length: C }, (_, c) => c);
  for (let i = 0; i < n; i++) {
    score.fill(0);
    for (const z of members) {
      const row = z.subarray(i * C, (i + 1) * C);
      const p = byMeanLogit ? row : softmaxRow(row, 1);
      for (let c = 0; c < C; c++) score[c]! += p[c]!;
    }
    const order = [...ids].sort((a, b) => score[b]! - score[a]! || a - b);
    out.set(order.slice(0, k), i * k);
  }
  return out;
}

/** μ and ℓ (log-mean-exp) of the logits outside `kept`; 0, 0 when nothing is outside. */
export function restStatistics(row: Float32Array, kept: ArrayLike<number>): [number, number] {
  const isKept = new Uint8Array(row.length);
  for (let s = 0; s < kept.length; s++) isKept[kept[s]!] = 1;
  const rest = row.filter((_, c) => isKept[c] === 0);
  if (rest.length === 0) return [0, 0];
  const max = rest.reduce((a, b) => Math.max(a, b), -Infinity);
  const mean = rest.reduce((a, b) => a + b, 0) / rest.length;
  const sumExp = rest.reduce((a, b) => a + Math.exp(b - max), 0);
  return [mean, max + Math.log(sumExp / rest.length)];
}

/** log Σ_rest exp(z/T) from the rest's count r, mean μ and log-mean-exp ℓ (the rule in the file comment). */
export function restLogMass(r: number, mean: number, logMeanExp: number, T: number): number {
  if (r === 0) return -Infinity;
  const p = 1 / T;
  return Math.log(r) + p * (mean + Math.min(p, 1) * (logMeanExp - mean));
}

function softmaxRow(z: ArrayLike<number>, T: number): Float64Array {
  let max = -Infinity;
  for (let c = 0; c < z.length; c++) max = Math.max(max, z[c]! / T);
  const out = Float64Array.from({ length: z.length }, (_, c) => Math.exp(z[c]! / T - max));
  const sum = out.reduce((a, b) => a + b, 0);
  return out.map((v) => v / sum);
}

/**
 * Soft targets at temperature T from stored tensors: full logits give n × C probabilities by `rule`
 * ({@link softTargetsAt}); top-k ones give each example's kept-class and rest probabilities, the mean over the
 * stored members (the teachers of an arithmetic ensemble, or the one combined member of a geometric one).
 */
export function softTargetsFromStored(
  tensors: Record<string, RawTensor>,
  numClasses: number,
  T: number,
  rule: EnsembleRule,
): StoredSoftTargets {
  const logits = tensors['logits'];
  if (logits) {
    const [members, n, C] = logits.shape as [number, number, number];
    const all = storedValues(logits);
    const perMember = Array.from({ length: members }, (_, m) => all.subarray(m * n * C, (m + 1) * n * C));
    return softTargetsAt(perMember, n, C, T, rule);
  }
  const { classes, values, rest } = tensors;
  if (!classes || !values || !rest) throw new Error('soft targets: the file holds neither logits nor top-k tensors');
  const [members, n, k] = values.shape as [number, number, number];
  const v = storedValues(values);
  const s = storedValues(rest);
  const probs = new Float32Array(n * (k + 1));
  const logW = new Float64Array(k + 1);
  for (let j = 0; j < members; j++)
    for (let i = 0; i < n; i++) {
      const at = (j * n + i) * k;
      for (let c = 0; c < k; c++) logW[c] = v[at + c]! / T;
      logW[k] = restLogMass(numClasses - k, s[(j * n + i) * 2]!, s[(j * n + i) * 2 + 1]!, T);
      softmaxRow(logW, 1).forEach((p, c) => (probs[i * (k + 1) + c]! += p / members));
    }
  return { k, numClasses, classes: Int32Array.from(classes.data), probs };
}

/**
 * The axis of a stored soft-target tensor that runs over examples: 1 for the per-member tensors ([members, n, …]:
 * `logits`, `values`, `rest`), 0 for `classes` ([n, k]).
 */
function rowAxis(t: RawTensor): number {
  return t.shape.length === 3 ? 1 : 0;
}

/** Rows [from, to) of every stored soft-target tensor (as {@link encodeSoftTargets} lays them out), copied. */
export function storedRows(tensors: Record<string, RawTensor>, from: number, to: number): Record<string, RawTensor> {
  return Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => {
      const axis = rowAxis(t);
      const [outer, n] = axis === 1 ? [t.shape[0]!, t.shape[1]!] : [1, t.shape[0]!];
      if (!(0 <= from && from <= to && to <= n))
        throw new RangeError(`soft targets ${name}: rows ${from}..${to} of ${n}`);
      const width = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const Ctor = t.data.constructor as new (length: number) => RawTensor['data'];
      const data = new Ctor(outer * (to - from) * width);
      for (let o = 0; o < outer; o++)
        data.set(t.data.subarray((o * n + from) * width, (o * n + to) * width), o * (to - from) * width);
      const shape = [...t.shape];
      shape[axis] = to - from;
      return [name, { dtype: t.dtype, shape, data }];
    }),
  );
}

/** Stored soft-target tensor sets of consecutive rows, as one set (the inverse of {@link storedRows}). */
export function concatStoredRows(parts: Record<string, RawTensor>[]): Record<string, RawTensor> {
  const first = parts[0];
  if (!first) throw new RangeError('soft targets: nothing to concatenate');
  return Object.fromEntries(
    Object.entries(first).map(([name, t0]) => {
      const axis = rowAxis(t0);
      const outer = axis === 1 ? t0.shape[0]! : 1;
      const width = t0.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const pieces = parts.map((p) => {
        const t = p[name];
        if (!t || t.dtype !== t0.dtype || t.shape.length !== t0.shape.length)
          throw new Error(`soft targets: parts disagree on tensor ${name}`);
        return t;
      });
      const total = pieces.reduce((a, t) => a + t.shape[axis]!, 0);
      const Ctor = t0.data.constructor as new (length: number) => RawTensor['data'];
      const data = new Ctor(outer * total * width);
      for (let o = 0, at = 0; o < outer; o++)
        for (const t of pieces) {
          const rows = t.shape[axis]!;
          data.set(t.data.subarray(o * rows * width, (o + 1) * rows * width), at);
          at += rows * width;
        }
      const shape = [...t0.shape];
      shape[axis] = total;
      return [name, { dtype: t0.dtype, shape, data }];
    }),
  );
}

/** Rows [from, to) of training soft targets (dense n × C, or kept-class buckets), copied. */
export function softTargetRows(t: StoredSoftTargets, C: number, from: number, to: number): StoredSoftTargets {
  if (t instanceof Float32Array) return t.slice(from * C, to * C);
  const { k } = t;
  return { ...t, classes: t.classes.slice(from * k, to * k), probs: t.probs.slice(from * (k + 1), to * (k + 1)) };
}

/** Training soft targets of consecutive row sets, as one. */
export function concatSoftTargets(parts: StoredSoftTargets[]): StoredSoftTargets {
  const join = <A extends Float32Array | Int32Array>(arrays: A[], Ctor: new (n: number) => A): A => {
    const out = new Ctor(arrays.reduce((a, x) => a + x.length, 0));
    arrays.reduce((at, x) => (out.set(x, at), at + x.length), 0);
    return out;
  };
  if (parts.every((p): p is Float32Array => p instanceof Float32Array)) return join(parts, Float32Array);
  const kept = parts.filter((p): p is KeptTargets => !(p instanceof Float32Array));
  if (kept.length !== parts.length || kept.length === 0) throw new Error('soft targets: cannot join dense and top-k');
  const { k, numClasses } = kept[0]!;
  return {
    k,
    numClasses,
    classes: join(
      kept.map((p) => p.classes),
      Int32Array,
    ),
    probs: join(
      kept.map((p) => p.probs),
      Float32Array,
    ),
  };
}

/** Reusable batch buffers for soft targets: rows are copied in, then handed to the loss as tensors. */
export interface SoftBatch {
  /** Copies the targets of `rows` (positions in the training indices) into batch slots 0…count−1. */
  fill(rows: Int32Array, count: number): void;
  /** The first `count` slots as the loss takes them; call inside a tidy. */
  tensors(count: number): tf.Tensor2D | KeptClassTargets;
}

export function softBatch(targets: StoredSoftTargets, batchSize: number, C: number): SoftBatch {
  if (targets instanceof Float32Array) {
    const buf = new Float32Array(batchSize * C);
    return {
      fill: (rows, count) => {
        for (let i = 0; i < count; i++) buf.set(targets.subarray(rows[i]! * C, rows[i]! * C + C), i * C);
      },
      tensors: (count) => tf.tensor2d(buf.subarray(0, count * C), [count, C]),
    };
  }
  const { k, classes, probs } = targets;
  const kept = new Float32Array(batchSize * C);
  const mask = new Float32Array(batchSize * C);
  const rest = new Float32Array(batchSize);
  return {
    fill: (rows, count) => {
      kept.fill(0);
      mask.fill(0);
      for (let i = 0; i < count; i++) {
        const r = rows[i]!;
        for (let s = 0; s < k; s++) {
          const c = classes[r * k + s]!;
          kept[i * C + c] = probs[r * (k + 1) + s]!;
          mask[i * C + c] = 1;
        }
        rest[i] = probs[r * (k + 1) + k]!;
      }
    },
    tensors: (count) => ({
      kept: tf.tensor2d(kept.subarray(0, count * C), [count, C]),
      mask: tf.tensor2d(mask.subarray(0, count * C), [count, C]),
      rest: tf.tensor2d(rest.subarray(0, count), [count, 1]),
    }),
  };
}
