/**
 * Weight quantisation of an exported layers model, in the TensorFlow.js weights-manifest format: each
 * float32 weight spec gains `quantization: { dtype: 'float16' }` or `{ dtype: 'uint8', scale, min }`, and
 * `tf.io` (decodeWeights) turns the values back into float32 on load, so plain tfjs loads a quantised export
 * like any other. uint8 is the converter's affine scheme, one (scale, min) per tensor with the range nudged
 * so that 0 is exact (tfjs-converter quantization.py, `quantize_weights`); a weight is off by at most scale/2.
 */
import type { QuantizeKind } from '../contracts/vocabulary';
import type { ExportedModel } from './export';

/** One weight's entry in model.json's weightsManifest (the part of tf.io.WeightsManifestEntry used here). */
interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** How one float32 tensor was quantised: its bytes and the spec's `quantization` field. */
interface Quantized {
  bytes: Uint8Array;
  quantization: { dtype: 'float16' } | { dtype: 'uint8'; scale: number; min: number };
}

const UINT8_MAX = 255;
const BYTES_PER_VALUE: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** numpy's `round` (half to even), which the converter uses, so both give the same bytes. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of `v`, rounded to nearest even; overflow gives ±Infinity. */
export function float16Bits(v: number): number {
  f32[0] = v;
  const x = f32Bits[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  // Normal halves keep the top 10 of 23 mantissa bits; subnormals (e ≤ 0) shift the implicit 1 in as well.
  const full = e > 0 ? mant : mant | 0x800000;
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign;
  const head = (e > 0 ? e << 10 : 0) | (full >>> shift);
  const rest = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  // A carry out of the mantissa moves to the next exponent (or to Infinity), which is the right rounding.
  return sign | (rest > half || (rest === half && (head & 1) === 1) ? head + 1 : head);
}

/** The number an IEEE 754 half-precision bit pattern holds (exact: every half is a float32). */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  // Subnormals have no implicit leading 1 and the smallest exponent.
  return exp === 0 ? sign * mant * 2 ** -24 : sign * (1024 + mant) * 2 ** (exp - 25);
}

function toFloat16(values: Float32Array): Quantized {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i]!);
  return { bytes: new Uint8Array(out.buffer), quantization: { dtype: 'float16' } };
}

/** The converter's affine range: scale spans [min, max] in 255 steps; min is nudged so 0 is a code. */
function affineRange(lo: number, hi: number): { scale: number; min: number; max: number } {
  const scale = (hi - lo) / UINT8_MAX;
  if (!(lo <= 0 && 0 <= hi)) return { scale, min: lo, max: hi };
  const min = -roundHalfEven(-lo / scale) * scale;
  return { scale, min, max: UINT8_MAX * scale + min };
}

/** Affine uint8, per tensor: value ≈ code·scale + min, |error| ≤ scale/2. */
export function toUint8(values: Float32Array, name = 'weight'): Quantized & { quantization: { dtype: 'uint8' } } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new RangeError(`cannot quantise ${name}: it holds ${v}`);
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const bytes = new Uint8Array(values.length);
  // A constant tensor (or an empty one) is all code 0 with min = the constant, as in the converter.
  if (!(hi > lo)) return { bytes, quantization: { dtype: 'uint8', scale: 1, min: values.length > 0 ? lo : 0 } };
  const { scale, min, max } = affineRange(lo, hi);
  for (let i = 0; i < values.length; i++)
    bytes[i] = roundHalfEven((Math.min(Math.max(values[i]!, min), max) - min) / scale);
  return { bytes, quantization: { dtype: 'uint8', scale, min } };
}

function quantizeTensor(values: Float32Array, kind: QuantizeKind, name: string): Quantized {
  return kind === 'float16' ? toFloat16(values) : toUint8(values, name);
}

function byteLength(spec: WeightSpec): number {
  const per = BYTES_PER_VALUE[spec.dtype];
  if (per === undefined) throw new Error(`cannot quantise weight ${spec.name}: dtype ${spec.dtype} is not supported`);
  return per * spec.shape.reduce((a, b) => a * b, 1);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/**
 * A copy of `exported` with every float32 weight quantised to `kind` (other dtypes are copied as they are),
 * loadable by `tf.loadLayersModel`, which dequantises. userDefinedMetadata.quantization records the scheme
 * and the float32 weight size it replaced.
 */
export function quantizeExport(exported: ExportedModel, kind: QuantizeKind): ExportedModel {
  const manifest = exported.modelJson['weightsManifest'] as { paths: string[]; weights: WeightSpec[] }[];
  if (manifest.length !== 1 || manifest[0]!.paths.length !== 1)
    throw new Error('quantizeExport expects one weights group in one shard (as exportLayersModel writes)');
  const group = manifest[0]!;
  const parts: Uint8Array[] = [];
  let offset = 0;
  const weights = group.weights.map((spec): WeightSpec => {
    if (spec.quantization) throw new Error(`weight ${spec.name} is already quantised (${spec.quantization.dtype})`);
    const length = byteLength(spec);
    const raw = exported.weights.slice(offset, offset + length);
    offset += length;
    if (raw.length !== length) throw new Error(`weight ${spec.name}: the weights file ends before its ${length} bytes`);
    if (spec.dtype !== 'float32') {
      parts.push(raw);
      return spec;
    }
    const q = quantizeTensor(new Float32Array(raw.buffer), kind, spec.name);
    parts.push(q.bytes);
    return { ...spec, quantization: q.quantization };
  });
  if (offset !== exported.weights.length)
    throw new Error(`the weights file has ${exported.weights.length - offset} bytes past its last weight`);
  const metadata = (exported.modelJson['userDefinedMetadata'] ?? {}) as Record<string, unknown>;
  return {
    modelJson: {
      ...exported.modelJson,
      weightsManifest: [{ ...group, weights }],
      userDefinedMetadata: {
        ...metadata,
        quantization: {
          dtype: kind,
          scheme: kind === 'uint8' ? 'affine per tensor, value = code * scale + min' : 'IEEE 754 half precision',
          float32WeightBytes: exported.weights.length,
        },
      },
    },
    weights: concat(parts),
    weightsFile: exported.weightsFile,
  };
}
