/**
 * One specialist (paper §5): the generalist's network with its output layer replaced by |S|+1
 * units — the special classes S, then one dustbin for every other class — trained on data where
 * half the examples come from S, and de-biased afterwards by a shift of the dustbin logit.
 */
import { inputSizeOf } from '../../common/input-shape';
import type { InputShape } from '../../common/input-shape';
import * as tf from '@tensorflow/tfjs';
import type { Net } from '../models';
import { buildNet, exportWeights, importWeights } from '../models';
import { Rng, deriveSeed } from '../rng';
import type { EpochStats, TrainConfig, TrainHooks, TrainSnapshot } from '../train';
import { train } from '../train';
import type { Pixels } from '../datasets';

/** The output layer's parameter names: w{L}/b{L} for an MLP, out/outb for the CNN. */
export function outputParamNames(net: Net): { weight: string; bias: string } {
  const L = net.spec.kind === 'mlp' ? net.spec.hidden.length : -1;
  return L >= 0 ? { weight: `w${L}`, bias: `b${L}` } : { weight: 'out', bias: 'outb' };
}

function checkSubset(subset: readonly number[], C: number): void {
  const seen = new Set(subset);
  if (subset.length === 0 || seen.size !== subset.length)
    throw new Error('specialist subset must be non-empty without repeats');
  if (subset.some((c) => !Number.isInteger(c) || c < 0 || c >= C))
    throw new Error(`specialist subset has a class outside [0, ${C})`);
  if (subset.length >= C) throw new Error('specialist subset must leave at least one class for the dustbin');
  // Specialist labels travel in TrainData's Uint8Array: |S| (the dustbin) must fit.
  if (subset.length > 255)
    throw new Error(`specialist subset of ${subset.length} classes exceeds 255 (labels are uint8)`);
}

/**
 * A new Net with the generalist's weights in every layer but the output one, which gets |S|+1
 * units (dustbin last). Special units copy the generalist's columns for their classes, so the
 * specialist starts from the generalist's opinion of them. The dustbin should start near
 * log Σ_{j∉S} exp(z_j) (then its softmax equals the generalist's summed mass outside S); a linear
 * unit cannot be a log-sum-exp, so it gets the mean of the other columns with
 * bias + log(#others): Jensen makes that a lower bound, exact when the other logits are equal.
 * `inputShape` is needed for a CNN whose input is not square (Net does not record it).
 */
export function buildSpecialistFrom(
  generalist: Net,
  subset: readonly number[],
  seed: number,
  inputShape?: InputShape,
): Net {
  const C = generalist.numClasses;
  checkSubset(subset, C);
  const spec = generalist.spec;
  // The config offers layers topologies as distilled students only (config/specialists.ts generalist.model).
  if (spec.kind === 'layers') throw new Error('a specialist needs an MLP or CNN generalist, not a layers topology');
  const side = Math.round(Math.sqrt(generalist.inputSize));
  const shape: InputShape = inputShape ?? (spec.kind === 'mlp' ? [1, generalist.inputSize] : [side, side]);
  if (inputSizeOf(shape) !== generalist.inputSize)
    throw new Error(
      `input shape [${shape.join(',')}] does not match the generalist's ${generalist.inputSize} inputs; ` +
        'pass inputShape',
    );

  const weights = exportWeights(generalist);
  const { weight, bias } = outputParamNames(generalist);
  const W = weights[weight]!.data;
  const B = weights[bias]!.data;
  const H = weights[weight]!.shape[0]!;
  const K = subset.length + 1;
  const inS = new Set(subset);
  const others = Array.from({ length: C }, (_, c) => c).filter((c) => !inS.has(c));
  const headW = new Float32Array(H * K);
  const headB = new Float32Array(K);
  for (let h = 0; h < H; h++) {
    subset.forEach((c, j) => (headW[h * K + j] = W[h * C + c]!));
    headW[h * K + K - 1] = others.reduce((s, c) => s + W[h * C + c]!, 0) / others.length;
  }
  subset.forEach((c, j) => (headB[j] = B[c]!));
  headB[K - 1] = others.reduce((s, c) => s + B[c]!, 0) / others.length + Math.log(others.length);

  const net = buildNet(spec, { inputShape: shape, numClasses: K, seed });
  importWeights(net, {
    ...weights,
    [weight]: { dtype: 'float32', shape: [H, K], data: headW },
    [bias]: { dtype: 'float32', shape: [K], data: headB },
  });
  return net;
}

/** Full labels → specialist labels: the position in `subset`, or |S| (the dustbin) for the rest. */
export function specialistTargets(labels: ArrayLike<number>, subset: readonly number[]): Uint8Array {
  if (subset.length > 255)
    throw new Error(`specialist subset of ${subset.length} classes exceeds 255 (labels are uint8)`);
  const pos = new Map<number, number>();
  subset.forEach((c, j) => pos.set(c, j));
  return Uint8Array.from({ length: labels.length }, (_, i) => pos.get(labels[i]!) ?? subset.length);
}

export interface SpecialistSampling {
  /** Training indices (into the full image array) in a seeded random order. */
  indices: Int32Array;
  /** How many of `indices` have a label in S. */
  specialCount: number;
  /** π: fraction of the pool whose label is in S (the natural distribution). */
  naturalFraction: number;
  /** π′: fraction of `indices` whose label is in S (≈ specialFraction). */
  trainFraction: number;
  /** π′/π: how much more often special examples are seen than naturally. */
  oversampling: number;
  /**
   * [π′/(1−π′)] / [π/(1−π)], the odds ratio; log of it is the exact dustbin correction. Training on
   * the resampled data multiplies the special posteriors by π′/π and the dustbin's by (1−π′)/(1−π)
   * (then renormalises), so logits shift by log(π′/π) resp. log((1−π′)/(1−π)); adding the
   * difference to the dustbin undoes both. Adding only log(π′/π), read literally from the paper,
   * leaves the dustbin off by log((1−π′)/(1−π)): ≈ −0.67 for 300 of 15,000 classes at π′ = ½.
   */
  correctionFactor: number;
}

export interface SamplingOptions {
  seed: number;
  /**
   * Number of indices. @default 2 × the pool's special examples: each special example once, and
   * as many others drawn without replacement. `train()` reuses one index list every epoch, so for
   * long runs a larger size (e.g. epochs × that) lets the specialist see more of the rest.
   */
  size?: number;
  /** Target π′. @default 0.5 */
  specialFraction?: number;
}

/**
 * `count` draws from `from`: whole shuffled passes, then a shuffled partial pass (so without replacement when
 * count ≤ |from|).
 */
function draw(from: Int32Array, count: number, rng: Rng): Int32Array {
  const out = new Int32Array(count);
  for (let at = 0; at < count; at += from.length) {
    const pass = rng.shuffle(Int32Array.from(from));
    out.set(pass.subarray(0, Math.min(from.length, count - at)), at);
  }
  return out;
}

/** Indices of `pool` where round(size·specialFraction) have labels in S and the rest do not. */
export function sampleSpecialistIndices(
  labels: ArrayLike<number>,
  pool: ArrayLike<number>,
  subset: readonly number[],
  opts: SamplingOptions,
): SpecialistSampling {
  const inS = new Set(subset);
  const special = Int32Array.from(Array.from(pool).filter((i) => inS.has(labels[i]!)));
  const rest = Int32Array.from(Array.from(pool).filter((i) => !inS.has(labels[i]!)));
  if (special.length === 0 || rest.length === 0)
    throw new Error(`pool needs examples both in and outside the subset (has ${special.length} and ${rest.length})`);
  const frac = opts.specialFraction ?? 0.5;
  if (!(frac > 0 && frac < 1)) throw new Error(`specialFraction must be in (0, 1), got ${frac}`);
  const size = opts.size ?? 2 * special.length;
  const specialCount = Math.min(size - 1, Math.max(1, Math.round(size * frac)));
  const rng = new Rng(opts.seed);
  const indices = new Int32Array(size);
  indices.set(draw(special, specialCount, rng));
  indices.set(draw(rest, size - specialCount, rng), specialCount);
  rng.shuffle(indices);
  const naturalFraction = special.length / (special.length + rest.length);
  const trainFraction = specialCount / size;
  return {
    indices,
    specialCount,
    naturalFraction,
    trainFraction,
    oversampling: trainFraction / naturalFraction,
    correctionFactor: trainFraction / (1 - trainFraction) / (naturalFraction / (1 - naturalFraction)),
  };
}

/** The shift added to the dustbin logit after training: log(factor). */
export function dustbinCorrection(factor: number): number {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new Error(`oversampling factor must be positive, got ${factor}`);
  return Math.log(factor);
}

/** Adds {@link dustbinCorrection} to the dustbin (last) output bias, in place. */
export function applyDustbinCorrection(net: Net, factor: number): void {
  const bias = net.params.get(outputParamNames(net).bias);
  if (!bias) throw new Error('net has no output bias');
  const shift = new Float32Array(net.numClasses);
  shift[net.numClasses - 1] = dustbinCorrection(factor);
  tf.tidy(() => bias.assign(tf.add(bias, tf.tensor1d(shift))));
}

export interface SpecialistData {
  images: Pixels;
  /** Full (generalist) labels. */
  labels: Uint8Array;
  side: InputShape;
  /** Examples the specialist may train on. */
  pool: Int32Array;
}

export interface SpecialistRun {
  net: Net;
  history: EpochStats[];
  sampling: SpecialistSampling;
}

/**
 * Build → sample → train → correct. The correction is applied once, after the last epoch, so
 * checkpoints taken by `hooks.onEpochEnd` hold uncorrected weights and a resumed run corrects once.
 */
export async function trainSpecialist(
  generalist: Net,
  data: SpecialistData,
  subset: readonly number[],
  cfg: TrainConfig,
  opts: { sampleSize?: number; hooks?: TrainHooks; resume?: TrainSnapshot } = {},
): Promise<SpecialistRun> {
  const sampling = sampleSpecialistIndices(data.labels, data.pool, subset, {
    seed: deriveSeed(cfg.seed, 'specialist/sample'),
    ...(opts.sampleSize !== undefined ? { size: opts.sampleSize } : {}),
  });
  const net = buildSpecialistFrom(generalist, subset, deriveSeed(cfg.seed, 'specialist/init'), data.side);
  try {
    const targets = specialistTargets(data.labels, subset);
    const history = await train(
      net,
      { images: data.images, labels: targets, side: data.side, indices: sampling.indices },
      cfg,
      opts.hooks,
      opts.resume,
    );
    applyDustbinCorrection(net, sampling.correctionFactor);
    return { net, history, sampling };
  } catch (err) {
    net.dispose();
    throw err;
  }
}
