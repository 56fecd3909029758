/**
 * How a dataset's raw values become model inputs, declared in the config (`data.normalize`) and stored
 * with every model trained on it, so exports and `chrysalis predict` apply exactly the same. Without a
 * declaration, images are uint8 and enter models as value / 255 (every model before this was so);
 * with one, the splits are turned into float32 inputs once, when the dataset is loaded.
 */
import type { Normalization } from '../common/normalization';
import type { Dataset, Split } from './datasets';

/** What the config declares: explicit per-channel values, or the training split's own mean and std. */
export type NormalizeSpec = 'standardize' | { mean: number[]; std: number[] };

export class NormalizationError extends Error {
  override readonly name = 'NormalizationError';
}

/** The scale values of a dataset's raw storage take: pixels (uint8) to [0, 1], float features as they are. */
export function baseScale(split: Split): number {
  return split.images instanceof Uint8Array ? 1 / 255 : 1;
}

/**
 * Per-channel mean and standard deviation of the scaled training values. A channel that never varies gets
 * std 1 (centred only), so a constant feature is harmless instead of a division by zero.
 */
function trainStatistics(split: Split, channels: number, scale: number): { mean: number[]; std: number[] } {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const x = split.images;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! * scale;
    const c = i % channels;
    sum[c] = sum[c]! + v;
    sq[c] = sq[c]! + v * v;
  }
  const count = x.length / channels;
  const mean = Array.from(sum, (s) => s / count);
  const std = mean.map((m, c) => {
    const variance = Math.max(0, sq[c]! / count - m * m);
    return variance > 0 ? Math.sqrt(variance) : 1;
  });
  return { mean, std };
}

/** The normalisation `spec` resolves to on a dataset: numbers, checked against its channels. */
export function resolveNormalization(ds: Dataset, spec: NormalizeSpec | undefined): Normalization {
  const scale = baseScale(ds.train);
  if (spec === undefined) return ds.normalization ?? { scale };
  if (spec === 'standardize') return { scale, ...trainStatistics(ds.train, ds.channels, scale) };
  for (const key of ['mean', 'std'] as const)
    if (spec[key].length !== ds.channels && spec[key].length !== 1)
      throw new NormalizationError(
        `data.normalize.${key}: ${spec[key].length} values for ${ds.channels} channel${ds.channels === 1 ? '' : 's'} ` +
          '(give one per channel, or one for all)',
      );
  const perChannel = (v: number[]) => Array.from({ length: ds.channels }, (_, c) => v[v.length === 1 ? 0 : c]!);
  return { scale, mean: perChannel(spec.mean), std: perChannel(spec.std) };
}

/** `values` (n × size, HWC) as normalised float32 inputs. */
export function applyNormalization(values: ArrayLike<number>, channels: number, n: Normalization): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = i % channels;
    const v = values[i]! * n.scale;
    out[i] = (v - (n.mean?.[c] ?? 0)) / (n.std?.[c] ?? 1);
  }
  return out;
}

/** The dataset with float32 inputs normalised as `norm` says; `digest` names the result. */
export function normalizedDataset(ds: Dataset, norm: Normalization, digest: string): Dataset {
  const split = (s: Split): Split => ({ ...s, images: applyNormalization(s.images, ds.channels, norm) });
  return { ...ds, digest, normalization: norm, train: split(ds.train), test: split(ds.test) };
}

/** The input an export takes, in words (its model.json's `input`), for a model with a declared normalisation. */
export function describeInput(shape: readonly number[], n: Normalization | undefined, features?: string[]): string {
  const size = shape.reduce((a, d) => a * d, 1);
  const raw = features
    ? `the ${features.length} feature columns (${features.join(', ')}) as written`
    : n && n.scale !== 1
      ? 'pixels / 255, channels interleaved (HWC)'
      : 'values, channels interleaved (HWC)';
  const centred = n?.mean
    ? `, then (x − mean[c]) / std[c] per ${features ? 'feature' : 'channel'} (normalization)`
    : '';
  return `float32 [batch, ${size}]: ${raw}${centred}`;
}
