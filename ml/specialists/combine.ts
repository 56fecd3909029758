/**
 * Inference with a generalist and specialists (paper §5). For each input, the specialists whose
 * subset meets the generalist's top-N classes are active, and the combined distribution is
 *   q* = argmin_q  KL(p_g ‖ q) + Σ_{m active} KL(p_m ‖ q^m),
 * where q^m is q seen through specialist m: q on S^m, plus a dustbin holding Σ_{j∉S^m} q_j.
 * There is no closed form, so we run gradient descent on z with q = softmax(z), batched over
 * inputs (each input's problem is independent; inactive specialists are masked per input).
 *
 * Batched form. The cross-entropy −Σ p log q of all terms on ordinary classes collapses into one
 * n×C "target" matrix T (p_g plus each active specialist's probabilities scattered onto its
 * classes), and dustbins into an n×M matrix D, so per input
 *   loss(z) = const − Σ_c T_c·log q_c − Σ_m D_m·log Σ_{j∉S^m} q_j.
 * The masked sums Σ_{j∉S^m} exp(z_j − max z) are one matmul with a C×M "outside" mask, which costs
 * O(nC) exps instead of an n×M×C masked log-sum-exp. Shifting by the row max keeps every term
 * ≤ 1; the sum is floored at 1e-30 only to keep 0·log 0 finite where a dustbin has no mass.
 *
 * Step. The gradient in z is g = W·q − T − Σ_m D_m·q·[c∉S^m]/Σ_{j∉S^m} q_j (W = ΣT + ΣD), so the
 * ratio R = 1 − g/(W·q) is positive and equals 1 exactly at the optimum. We move z by η·log R: a
 * gradient step preconditioned by 1/(W·q) (to first order −η·g/(W·q)), in log form. At η = 1 it is
 * the EM (majorise–minimise) update q ← q·R / Σ q·R for this objective, which provably cannot raise
 * the loss; η then adapts per input (×1.5 after a step that did not raise the loss, undo and ×0.5
 * after one that did), i.e. over-relaxed EM. Plain gradient steps (step 2/(1+|A|), the L-smooth
 * bound) crawl where q is small: |q − q*| ≈ 2e-3 after 500 iterations on random cases, against
 * ≈ 2e-6 after 20 here; with full distributions everywhere (optimum = their mean) one step lands.
 */
import * as tf from '@tensorflow/tfjs';
import { tidyValues } from '../tidy-values';

/** One specialist's output on all n inputs: n × (|S|+1), dustbin last. */
export interface SpecialistProbs {
  subset: readonly number[];
  probs: Float32Array;
}

export interface CombineOptions {
  /** The generalist's top-N classes select the active specialists. @default 1 */
  topN?: number;
  /** @default 500 */
  maxIterations?: number;
  /** Stop when every input's largest |∂loss/∂z| is below this. @default 1e-5 */
  tolerance?: number;
  /** Keep the loss of every iteration (costs a device→host copy per iteration). @default false */
  recordLoss?: boolean;
  /** Inputs solved together (bounds memory: a few n×C tensors). @default 2048 */
  chunkSize?: number;
}

export interface Combination {
  /** Combined distribution, n × C; equal to p_g for inputs with no active specialist. */
  q: Float32Array;
  /** Per input, the ids (positions in the specialists array) of the active specialists, ascending. */
  active: number[][];
  activeCount: Int32Array;
  /** The objective at q per input (KL terms summed; 0 where no specialist is active). */
  loss: Float32Array;
  /** Most iterations any chunk ran. */
  iterations: number;
  /**
   * Per input, the loss at z = log p_g and after each iteration: the initial loss plus every kept
   * step's change, so non-increasing; its end agrees with `loss` up to float32 rounding.
   */
  lossHistory?: number[][];
}

const FLOOR = 1e-30;
const GROW = 1.5;
const SHRINK = 0.5;
const MIN_STEP = 1e-9;
/** Largest change of one logit per step: keeps exp() finite when some q_c is ~0. */
const MAX_MOVE = 20;
const CHECK_EVERY = 10;

/** The fixed data of one chunk's problems. */
interface Problem {
  pg: tf.Tensor2D;
  target: tf.Tensor2D;
  dust: tf.Tensor2D | undefined;
  outside: tf.Tensor2D | undefined;
  /** Σ p log p over every distribution in the objective: turns cross-entropy into KL. */
  negEntropy: tf.Tensor1D;
  /**
   * W = ΣT + ΣD per row: the total probability mass in the objective (1 + #active dustbin-carrying terms, give or
   * take).
   */
  weight: tf.Tensor1D;
}

/** C×M mask, 1 where class c is outside S^m; undefined without specialists. */
function outsideMask(C: number, specialists: readonly SpecialistProbs[]): tf.Tensor2D | undefined {
  const M = specialists.length;
  if (M === 0) return undefined;
  const mask = new Float32Array(C * M).fill(1);
  specialists.forEach((s, m) => s.subset.forEach((c) => (mask[c * M + m] = 0)));
  return tf.tensor2d(mask, [C, M]);
}

function buildProblem(
  rows: readonly number[],
  pg: Float32Array,
  C: number,
  specialists: readonly SpecialistProbs[],
  active: number[][],
  outside: tf.Tensor2D | undefined,
): Problem {
  const r = rows.length;
  const M = specialists.length;
  const target = new Float32Array(r * C);
  const dust = new Float32Array(r * M);
  const negEntropy = new Float32Array(r);
  const weight = new Float32Array(r);
  const plogp = (p: number): number => (p > 0 ? p * Math.log(p) : 0);
  rows.forEach((i, t) => {
    let h = 0;
    for (let c = 0; c < C; c++) {
      target[t * C + c] = pg[i * C + c]!;
      h += plogp(pg[i * C + c]!);
    }
    for (const m of active[i]!) {
      const { subset, probs } = specialists[m]!;
      const K = subset.length + 1;
      subset.forEach((c, j) => {
        target[t * C + c]! += probs[i * K + j]!;
        h += plogp(probs[i * K + j]!);
      });
      // A subset covering every class has no dustbin in q; its dustbin probability is ignored.
      if (subset.length < C) {
        dust[t * M + m] = probs[i * K + K - 1]!;
        h += plogp(probs[i * K + K - 1]!);
      }
    }
    negEntropy[t] = h;
    for (let c = 0; c < C; c++) weight[t]! += target[t * C + c]!;
    for (let m = 0; m < M; m++) weight[t]! += dust[t * M + m]!;
  });
  return {
    pg: tf.tensor2d(Float32Array.from(rows.flatMap((i) => Array.from(pg.subarray(i * C, i * C + C)))), [r, C]),
    target: tf.tensor2d(target, [r, C]),
    dust: M > 0 ? tf.tensor2d(dust, [r, M]) : undefined,
    outside,
    negEntropy: tf.tensor1d(negEntropy),
    weight: tf.tensor1d(weight),
  };
}

/** Per-row objective at z; `shift` (per-row max of z) is a constant for the gradient. */
function rowLoss(z: tf.Tensor2D, shift: tf.Tensor2D, p: Problem): tf.Tensor1D {
  const zs = tf.sub(z, shift);
  const e = tf.exp(zs);
  const logTotal = tf.log(tf.sum(e, 1, true));
  let ce: tf.Tensor1D = tf.sum(tf.mul(p.target, tf.sub(zs, logTotal)), 1);
  if (p.dust && p.outside) {
    const logDust = tf.sub(tf.log(tf.maximum(tf.matMul(e, p.outside), FLOOR)), logTotal);
    ce = tf.add(ce, tf.sum(tf.mul(p.dust, logDust), 1));
  }
  return tf.sub(p.negEntropy, ce);
}

function gradient(z: tf.Tensor2D, p: Problem): tf.Tensor2D {
  return tf.tidy(() => {
    const shift = tf.max<tf.Tensor2D>(z, 1, true);
    return tf.valueAndGrad((x: tf.Tensor2D) => rowLoss(x, shift, p))(z).grad;
  });
}

/**
 * loss(z + δ) − loss(z) per row, from δ and q = softmax(z) only. Near the optimum the change is far
 * below float32 resolution of the loss itself (≈1e-7·loss), so comparing two loss values stalls the
 * step control at |q − q*| ≈ 1e-4; written with expm1/log1p every term is relative to δ and the
 * difference stays accurate. With W = ΣT + ΣD:
 *   Δ = −T·δ + W·log(Σ_c q_c e^δc) − Σ_m D_m·log(Σ_{c∉S^m} q_c e^δc / Σ_{c∉S^m} q_c).
 */
function lossChange(q: tf.Tensor2D, delta: tf.Tensor2D, p: Problem): tf.Tensor1D {
  return tf.tidy(() => {
    const moved = tf.mul(q, tf.expm1(delta));
    const all = tf.log1p(tf.sum(moved, 1));
    let change: tf.Tensor1D = tf.sub(tf.mul(all, p.weight), tf.sum(tf.mul(p.target, delta), 1));
    if (p.dust && p.outside) {
      const out = tf.log1p(tf.div(tf.matMul(moved, p.outside), tf.maximum(tf.matMul(q, p.outside), FLOOR)));
      change = tf.sub(change, tf.sum(tf.mul(p.dust, out), 1));
    }
    return change;
  });
}

interface State {
  z: tf.Tensor2D;
  q: tf.Tensor2D;
  grad: tf.Tensor2D;
  step: tf.Tensor1D;
  loss: tf.Tensor1D;
}

/**
 * Preconditioned descent with per-row step control: a step is kept iff it does not raise the loss
 * (checked with {@link lossChange}), then the row's step grows; otherwise it is undone and halved.
 * The tracked loss is the initial loss plus the kept (≤ 0) changes, so it never increases.
 */
async function solve(
  p: Problem,
  maxIterations: number,
  tolerance: number,
  record: boolean,
): Promise<{ q: Float32Array; loss: Float32Array; iterations: number; history: Float32Array[] }> {
  let s: State = tf.tidy(() => {
    const z = tf.log(tf.maximum(p.pg, FLOOR)) as tf.Tensor2D;
    return {
      z,
      q: tf.softmax(z),
      grad: gradient(z, p),
      step: tf.ones<tf.Rank.R1>([p.pg.shape[0]]),
      loss: rowLoss(z, tf.max<tf.Tensor2D>(z, 1, true), p),
    };
  });
  const history = record ? [Float32Array.from(s.loss.dataSync())] : [];
  let it = 0;
  try {
    while (it < maxIterations) {
      it++;
      const prev = s;
      s = tf.tidy(() => {
        // R = 1 − g/(W·q) = (T_c/q_c + Σ_m D_m·[c∉S^m]/Σ_{j∉S^m} q_j)/W; see the file comment.
        const ratio = tf.sub(1, tf.div(prev.grad, tf.maximum(tf.mul(prev.q, tf.expandDims(p.weight, 1)), FLOOR)));
        const delta = tf.clipByValue(
          tf.mul<tf.Tensor2D>(tf.expandDims(prev.step, 1), tf.log(tf.maximum(ratio, FLOOR))),
          -MAX_MOVE,
          MAX_MOVE,
        );
        const change = lossChange(prev.q, delta, p);
        const ok = tf.lessEqual(change, 0);
        const okRow = tf.expandDims(ok, 1);
        const z = tf.add<tf.Tensor2D>(prev.z, delta);
        return {
          z: tf.where(okRow, z, prev.z),
          q: tf.where(okRow, tf.softmax(z), prev.q),
          grad: tf.where(okRow, gradient(z, p), prev.grad),
          step: tf.where(ok, tf.mul<tf.Tensor1D>(prev.step, GROW), tf.mul<tf.Tensor1D>(prev.step, SHRINK)),
          loss: tf.where(ok, tf.add<tf.Tensor1D>(prev.loss, change), prev.loss),
        };
      });
      tf.dispose([prev.z, prev.q, prev.grad, prev.step, prev.loss]);
      if (record) history.push(Float32Array.from(s.loss.dataSync()));
      if (it % CHECK_EVERY === 0) {
        // Rows whose step collapsed cannot improve further in float32: count them as done.
        const worst = tf.tidy(
          () =>
            tf.max(tf.mul(tf.max(tf.abs(s.grad), 1), tf.cast(tf.greater(s.step, MIN_STEP), 'float32'))).dataSync()[0]!,
        );
        if (worst < tolerance) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    // Report the loss recomputed at the final z rather than the tracked sum (no drift from rounding).
    const loss = tidyValues(() => rowLoss(s.z, tf.max<tf.Tensor2D>(s.z, 1, true), p));
    return { q: Float32Array.from(s.q.dataSync()), loss, iterations: it, history };
  } finally {
    tf.dispose([s.z, s.q, s.grad, s.step, s.loss]);
  }
}

function check(pg: Float32Array, n: number, C: number, specialists: readonly SpecialistProbs[]): void {
  if (pg.length !== n * C) throw new Error(`generalist probabilities: expected ${n}×${C}, got ${pg.length} values`);
  specialists.forEach((s, m) => {
    if (s.probs.length !== n * (s.subset.length + 1))
      throw new Error(`specialist ${m}: expected ${n}×${s.subset.length + 1} probabilities, got ${s.probs.length}`);
    if (s.subset.some((c) => !Number.isInteger(c) || c < 0 || c >= C) || new Set(s.subset).size !== s.subset.length)
      throw new Error(`specialist ${m}: subset must hold distinct classes in [0, ${C})`);
  });
}

/** Frees one chunk's tensors; `outside` is shared by every chunk and freed by whoever built it. */
function disposeProblem(p: Problem): void {
  tf.dispose([p.pg, p.target, p.negEntropy, p.weight, ...(p.dust ? [p.dust] : [])]);
}

/** Combines generalist probabilities `pg` (n×C) with specialists' outputs; see the file comment. */
export async function combine(
  pg: Float32Array,
  n: number,
  C: number,
  specialists: readonly SpecialistProbs[],
  opts: CombineOptions = {},
): Promise<Combination> {
  check(pg, n, C, specialists);
  // The selection rule is the exported package's own (its loader imports nothing, so it cannot import this
  // module): what is evaluated here is what the package does.
  const { activeSpecialists } = await import('./combination-loader.mjs');
  const active = activeSpecialists(
    pg,
    n,
    C,
    specialists.map((s) => s.subset),
    opts.topN ?? 1,
  );
  const q = Float32Array.from(pg);
  const loss = new Float32Array(n);
  const lossHistory = opts.recordLoss ? Array.from({ length: n }, () => [] as number[]) : undefined;
  const rows = active.flatMap((a, i) => (a.length > 0 ? [i] : []));
  const chunk = Math.max(1, opts.chunkSize ?? 2048);
  const outside = outsideMask(C, specialists);
  let iterations = 0;
  try {
    for (let start = 0; start < rows.length; start += chunk) {
      const part = rows.slice(start, start + chunk);
      const problem = buildProblem(part, pg, C, specialists, active, outside);
      try {
        const res = await solve(problem, opts.maxIterations ?? 500, opts.tolerance ?? 1e-5, lossHistory !== undefined);
        iterations = Math.max(iterations, res.iterations);
        part.forEach((i, t) => {
          q.set(res.q.subarray(t * C, t * C + C), i * C);
          loss[i] = res.loss[t]!;
          if (lossHistory) lossHistory[i] = res.history.map((h) => h[t]!);
        });
      } finally {
        disposeProblem(problem);
      }
    }
  } finally {
    outside?.dispose();
  }
  return {
    q,
    active,
    activeCount: Int32Array.from(active, (a) => a.length),
    loss,
    iterations,
    ...(lossHistory ? { lossHistory } : {}),
  };
}

/**
 * The objective at given distributions q (n×C) with the given active sets, evaluated by the same
 * tensor code the solver minimises (for tests and diagnostics).
 */
export function combinationObjective(
  q: Float32Array,
  pg: Float32Array,
  n: number,
  C: number,
  specialists: readonly SpecialistProbs[],
  active: number[][],
): Float32Array {
  check(pg, n, C, specialists);
  if (q.length !== n * C || active.length !== n)
    throw new Error('combinationObjective: q must be n×C and active must have n entries');
  const outside = outsideMask(C, specialists);
  const problem = buildProblem(
    Array.from({ length: n }, (_, i) => i),
    pg,
    C,
    specialists,
    active,
    outside,
  );
  try {
    return tidyValues(() => {
      const z = tf.log(tf.maximum(tf.tensor2d(q, [n, C]), FLOOR)) as tf.Tensor2D;
      return rowLoss(z, tf.max<tf.Tensor2D>(z, 1, true), problem);
    });
  } finally {
    disposeProblem(problem);
    outside?.dispose();
  }
}

/** Inputs combined per call of {@link combineInSlices}: bounds memory and lets the caller heartbeat. */
const SLICE = 8192;

/**
 * {@link combine} over all n inputs, a slice at a time: each input's problem is independent, so this equals one
 * call, but `afterSlice` runs between slices (an activity heartbeats there).
 */
export async function combineInSlices(
  pg: Float32Array,
  n: number,
  C: number,
  specialists: readonly SpecialistProbs[],
  opts: Required<Pick<CombineOptions, 'topN' | 'maxIterations' | 'tolerance'>>,
  afterSlice: (done: number) => void,
): Promise<{ q: Float32Array; active: number[][]; iterations: number }> {
  const q = new Float32Array(n * C);
  const active: number[][] = [];
  let iterations = 0;
  for (let start = 0; start < n; start += SLICE) {
    const end = Math.min(n, start + SLICE);
    const part = specialists.map((s) => ({
      subset: s.subset,
      probs: s.probs.subarray(start * (s.subset.length + 1), end * (s.subset.length + 1)),
    }));
    const res = await combine(pg.subarray(start * C, end * C), end - start, C, part, {
      topN: opts.topN,
      maxIterations: opts.maxIterations,
      tolerance: opts.tolerance,
    });
    q.set(res.q, start * C);
    active.push(...res.active);
    iterations = Math.max(iterations, res.iterations);
    afterSlice(end);
  }
  return { q, active, iterations };
}
