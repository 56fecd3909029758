/**
 * Loader for an exported chrysalis generalist + specialists package (paper §5), shipped inside the
 * package as `loader.mjs`. It depends on nothing but the TensorFlow.js namespace its caller passes
 * in (`@tensorflow/tfjs`, `@tensorflow/tfjs-node`, or the browser's `tf`), so it runs wherever
 * the exported layers models do, without chrysalis.
 *
 * For each input the specialists whose subset meets the generalist's top-N classes are active, and
 * the answer is the distribution q minimising
 *   KL(p_g ‖ q) + Σ_{m active} KL(p_m ‖ q^m),
 * q^m being q on specialist m's classes plus a dustbin holding the rest of q's mass. This is the
 * same objective chrysalis evaluates (ml/specialists/combine.ts, batched on tensors); here it is
 * solved per input in float64 plain JavaScript, because a package is used on a few inputs at a time
 * and C is small. The step is EM's multiplicative update q_c ← q_c·R_c (R = 1 − g/(W·q), W the
 * total mass of the terms), over-relaxed as z += η·log R with η grown after a step that lowers the
 * loss and halved (step undone) after one that does not. Both solvers reach the same optimum: the
 * objective is strictly convex in q wherever p_g has full support.
 *
 *   import * as tf from '@tensorflow/tfjs';
 *   import { loadCombination } from './loader.mjs';
 *   const model = await loadCombination(tf, 'https://example.org/models/my-package/');   // or (path) => bytes
 *   const { probabilities, active } = await model.predict(x);   // x: [n, rows*cols] floats in [0, 1]
 */
const FLOOR = 1e-300;
const MAX_MOVE = 20;

// Types only, written inline: tsc drops the comments of an elided `import type` statement, and the
// shipped loader.mjs must keep the file comment above as its header.
/* eslint-disable @typescript-eslint/consistent-type-imports */
type TfModule = typeof import('@tensorflow/tfjs');
type Tensor = import('@tensorflow/tfjs').Tensor;
type Tensor2D = import('@tensorflow/tfjs').Tensor2D;
type LayersModel = import('@tensorflow/tfjs').LayersModel;
type WeightsManifestEntry = import('@tensorflow/tfjs').io.WeightsManifestEntry;
/* eslint-enable @typescript-eslint/consistent-type-imports */

/** combination.json: everything the loader needs besides the models' own files. */
export interface CombinationManifest {
  format: 'chrysalis-combination';
  version: 1;
  classNames: string[];
  /** [rows, cols] of an input image; inputs are flattened to rows·cols floats (grey / 255). */
  /** [rows, cols] (grey) or [rows, cols, channels] (interleaved). */
  inputShape: number[];
  generalist: { path: string };
  /** Each specialist's outputs are its subset's classes in order, then the dustbin. */
  specialists: { name: string; subset: number[]; path: string }[];
  combine: { topN: number; maxIterations: number; tolerance: number };
}

/** A package path (e.g. "generalist/model.json") → its bytes or text. */
export type PackageReader = (relativePath: string) => Promise<ArrayBuffer | Uint8Array | string>;

export interface SpecialistOutput {
  subset: readonly number[];
  /** n × (|subset| + 1) probabilities, dustbin last. */
  probs: ArrayLike<number>;
}

export interface CombineOptions {
  /** @default 1 */
  topN?: number;
  /** @default 500 */
  maxIterations?: number;
  /** Stop when every |∂loss/∂z_c| is below this. @default 1e-5 */
  tolerance?: number;
}

export interface Prediction {
  n: number;
  numClasses: number;
  classNames: string[];
  /** Combined probabilities, n × C row-major (the generalist's own where no specialist is active). */
  probabilities: Float32Array;
  /** The generalist's probabilities, n × C. */
  generalist: Float32Array;
  /** Per input, the indices (into manifest.specialists) of the active specialists. */
  active: number[][];
}

export interface CombinationModel {
  manifest: CombinationManifest;
  classNames: string[];
  /** x: a [n, rows·cols] tensor or a Float32Array of n·rows·cols values, grey pixels / 255. */
  predict(x: Tensor2D | Float32Array): Promise<Prediction>;
  dispose(): void;
}

/** Per input, specialists whose subset holds one of the generalist's top-N classes (ties → lower class). */
export function activeSpecialists(
  pg: ArrayLike<number>,
  n: number,
  C: number,
  subsets: readonly (readonly number[])[],
  topN = 1,
): number[][] {
  const byClass: number[][] = Array.from({ length: C }, () => []);
  subsets.forEach((s, m) => s.forEach((c) => byClass[c]!.push(m)));
  const N = Math.min(Math.max(1, topN), C);
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const top: number[] = [];
    for (let c = 0; c < C; c++) {
      let at = top.length;
      while (at > 0 && pg[i * C + c]! > pg[i * C + top[at - 1]!]!) at--;
      if (at < N) {
        top.splice(at, 0, c);
        if (top.length > N) top.pop();
      }
    }
    out.push([...new Set(top.flatMap((c) => byClass[c]!))].sort((a, b) => a - b));
  }
  return out;
}

/** One input's problem: T (ordinary-class mass), dustbin masses D with their outside sets, W. */
interface Problem {
  C: number;
  target: Float64Array;
  dust: number[];
  outside: number[][];
  weight: number;
}

function loss(p: Problem, q: Float64Array): number {
  let l = 0;
  for (let c = 0; c < p.C; c++) if (p.target[c]! > 0) l -= p.target[c]! * Math.log(Math.max(q[c]!, FLOOR));
  p.dust.forEach((d, k) => {
    let out = 0;
    for (const c of p.outside[k]!) out += q[c]!;
    l -= d * Math.log(Math.max(out, FLOOR));
  });
  return l; // cross-entropy: the KL objective minus a constant
}

function softmax(z: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  const q = Float64Array.from(z, (v) => Math.exp(v - max));
  const s = q.reduce((a, v) => a + v, 0);
  return q.map((v) => v / s);
}

/**
 * R_c = (T_c/q_c + Σ_k D_k·[c ∉ S^k]/Σ_{j∉S^k} q_j) / W; R ≡ 1 at the optimum, and |W·q·(1 − R)| is the
 * gradient in z.
 */
function ratio(p: Problem, q: Float64Array): Float64Array {
  const r = Float64Array.from(p.target, (t, c) => t / Math.max(q[c]!, FLOOR));
  p.dust.forEach((d, k) => {
    let out = 0;
    for (const c of p.outside[k]!) out += q[c]!;
    for (const c of p.outside[k]!) r[c]! += d / Math.max(out, FLOOR);
  });
  return r.map((v) => v / p.weight);
}

function solve(p: Problem, pg: Float64Array, maxIterations: number, tolerance: number): Float64Array {
  let z = Float64Array.from(pg, (v) => Math.log(Math.max(v, 1e-30)));
  let q = softmax(z);
  let l = loss(p, q);
  let eta = 1;
  for (let it = 0; it < maxIterations; it++) {
    const r = ratio(p, q);
    let worst = 0;
    for (let c = 0; c < p.C; c++) worst = Math.max(worst, Math.abs(p.weight * q[c]! * (1 - r[c]!)));
    if (worst < tolerance || eta < 1e-9) break;
    const next = z.map((v, c) => v + Math.min(MAX_MOVE, Math.max(-MAX_MOVE, eta * Math.log(Math.max(r[c]!, FLOOR)))));
    const qn = softmax(next);
    const ln = loss(p, qn);
    if (ln <= l) {
      z = next;
      q = qn;
      l = ln;
      eta *= 1.5;
    } else {
      eta *= 0.5;
    }
  }
  return q;
}

/** Combines the generalist's n × C probabilities with specialists' outputs; see the file comment. */
export function combineProbabilities(
  pg: ArrayLike<number>,
  n: number,
  C: number,
  specialists: readonly SpecialistOutput[],
  options: CombineOptions = {},
): { q: Float32Array; active: number[][] } {
  if (pg.length !== n * C) throw new Error(`generalist probabilities: expected ${n}×${C} values, got ${pg.length}`);
  specialists.forEach((s, m) => {
    if (s.probs.length !== n * (s.subset.length + 1))
      throw new Error(`specialist ${m}: expected ${n}×${s.subset.length + 1} probabilities, got ${s.probs.length}`);
  });
  const active = activeSpecialists(
    pg,
    n,
    C,
    specialists.map((s) => s.subset),
    options.topN ?? 1,
  );
  const outside = specialists.map((s) => {
    const inS = new Set(s.subset);
    return Array.from({ length: C }, (_, c) => c).filter((c) => !inS.has(c));
  });
  const q = Float32Array.from({ length: n * C }, (_, k) => pg[k]!);
  for (let i = 0; i < n; i++) {
    if (active[i]!.length === 0) continue;
    const g = Float64Array.from({ length: C }, (_, c) => pg[i * C + c]!);
    const target = Float64Array.from(g);
    const dust: number[] = [];
    const out: number[][] = [];
    for (const m of active[i]!) {
      const { subset, probs } = specialists[m]!;
      const K = subset.length + 1;
      subset.forEach((c, j) => (target[c]! += probs[i * K + j]!));
      // A subset covering every class has no dustbin in q; its dustbin output is ignored.
      if (outside[m]!.length > 0) {
        dust.push(probs[i * K + K - 1]!);
        out.push(outside[m]!);
      }
    }
    const weight = target.reduce((a, v) => a + v, 0) + dust.reduce((a, v) => a + v, 0);
    q.set(
      solve({ C, target, dust, outside: out, weight }, g, options.maxIterations ?? 500, options.tolerance ?? 1e-5),
      i * C,
    );
  }
  return { q, active };
}

function asBuffer(data: ArrayBuffer | Uint8Array | string): ArrayBuffer {
  if (typeof data === 'string') return new TextEncoder().encode(data).buffer;
  if (data instanceof Uint8Array)
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return data;
}

function readerFor(source: string | PackageReader): PackageReader {
  if (typeof source === 'function') return source;
  const base = source.endsWith('/') ? source : `${source}/`;
  return async (rel) => {
    const res = await fetch(new URL(rel, base));
    if (!res.ok) throw new Error(`${new URL(rel, base).href}: HTTP ${res.status}`);
    return res.arrayBuffer();
  };
}

interface LayersModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: WeightsManifestEntry[] }[];
  userDefinedMetadata?: Record<string, unknown>;
}

/**
 * One layers model (model.json + its weight shards) through a reader, with its userDefinedMetadata
 * (class names, input convention) kept: `model.getUserDefinedMetadata()`. `dir` is a path inside the
 * package; '' for a reader rooted at the model itself.
 */
export async function loadLayers(tf: TfModule, read: PackageReader, dir = ''): Promise<LayersModel> {
  const at = (file: string) => (dir ? `${dir}/${file}` : file);
  const json = JSON.parse(new TextDecoder().decode(asBuffer(await read(at('model.json'))))) as LayersModelJson;
  const group = json.weightsManifest[0];
  if (!group) throw new Error(`${at('model.json')}: no weightsManifest`);
  const shards = await Promise.all(group.paths.map(async (p) => new Uint8Array(asBuffer(await read(at(p))))));
  const weightData = new Uint8Array(shards.reduce((a, s) => a + s.length, 0));
  shards.reduce((at, s) => (weightData.set(s, at), at + s.length), 0);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: group.weights,
      weightData: weightData.buffer,
      ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
    }),
  );
}

/**
 * Loads a package from a base URL (fetched) or a reader function, e.g. in Node
 * `(p) => fs.promises.readFile(path.join(dir, p))`.
 */
export async function loadCombination(tf: TfModule, source: string | PackageReader): Promise<CombinationModel> {
  const read = readerFor(source);
  const manifest = JSON.parse(
    new TextDecoder().decode(asBuffer(await read('combination.json'))),
  ) as CombinationManifest;
  if (manifest.format !== 'chrysalis-combination' || manifest.version !== 1)
    throw new Error(
      'combination.json: expected format "chrysalis-combination" version 1, ' +
        `got ${JSON.stringify(manifest.format)} version ${JSON.stringify(manifest.version)}`,
    );
  const generalist = await loadLayers(tf, read, manifest.generalist.path);
  const specialists: LayersModel[] = [];
  for (const s of manifest.specialists) specialists.push(await loadLayers(tf, read, s.path));
  const C = manifest.classNames.length;
  const size = manifest.inputShape.reduce((a, d) => a * d, 1);
  return {
    manifest,
    classNames: manifest.classNames,
    async predict(x) {
      if (x instanceof Float32Array && x.length % size !== 0)
        throw new Error(
          `predict: ${x.length} values are not a whole number of ${manifest.inputShape.join('×')} images`,
        );
      const input = x instanceof Float32Array ? tf.tensor2d(x, [x.length / size, size]) : x;
      try {
        if (input.shape[1] !== size)
          throw new Error(
            `predict: expected inputs of ${size} values (${manifest.inputShape.join('×')}), got ${input.shape[1]}`,
          );
        const n = input.shape[0];
        // The exported models end in a softmax: their outputs are already probabilities.
        const probsOf = async (m: LayersModel) => {
          const out = m.predict(input) as Tensor;
          try {
            return Float32Array.from(await out.data());
          } finally {
            out.dispose();
          }
        };
        const pg = await probsOf(generalist);
        const outputs: SpecialistOutput[] = [];
        for (const [m, s] of manifest.specialists.entries())
          outputs.push({ subset: s.subset, probs: await probsOf(specialists[m]!) });
        const { q, active } = combineProbabilities(pg, n, C, outputs, manifest.combine);
        return { n, numClasses: C, classNames: manifest.classNames, probabilities: q, generalist: pg, active };
      } finally {
        if (input !== x) input.dispose();
      }
    },
    dispose() {
      generalist.dispose();
      specialists.forEach((m) => m.dispose());
    },
  };
}
