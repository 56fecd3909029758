/**
 * Binary encoding of named tensors (weights, optimizer state, soft-target logits).
 * Layout: "CHT1" | u32 LE header length | JSON header | zero padding to 8 bytes | raw LE data.
 * JSON would be ~3x larger and lose float32 exactness; this is a memcpy either way.
 */

import type { DType, RawTensor } from '../common/raw-tensor';

export type { DType, RawTensor } from '../common/raw-tensor';

interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  length: number;
}

const MAGIC = 'CHT1';
const BYTES: Record<DType, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };

export class TensorCodecError extends Error {
  override readonly name = 'TensorCodecError';
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function encodeTensors(tensors: Record<string, RawTensor>): Uint8Array {
  const entries: HeaderEntry[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length)
      throw new TensorCodecError(
        `tensor ${name}: shape [${t.shape.join(',')}] holds ${count} values, data has ${t.data.length}`,
      );
    const length = count * BYTES[t.dtype];
    entries.push({ name, dtype: t.dtype, shape: t.shape, offset, length });
    offset = align8(offset + length);
  }
  const header = new TextEncoder().encode(JSON.stringify({ tensors: entries }));
  const dataStart = align8(8 + header.length);
  const out = new Uint8Array(dataStart + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  for (const e of entries) {
    const t = tensors[e.name]!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, e.length), dataStart + e.offset);
  }
  return out;
}

function typedArray(dtype: DType, buffer: ArrayBuffer): RawTensor['data'] {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'uint16':
    case 'float16':
      return new Uint16Array(buffer);
    default:
      return new Uint8Array(buffer);
  }
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** The header's entries, each checked: a header that is not what encodeTensors writes is a TensorCodecError. */
function headerEntries(header: Uint8Array): HeaderEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(header));
  } catch (err) {
    throw new TensorCodecError(`tensor file header is not JSON: ${(err as Error).message}`);
  }
  const tensors = (parsed as { tensors?: unknown } | null)?.tensors;
  if (!Array.isArray(tensors)) throw new TensorCodecError('tensor file header lists no tensors');
  return tensors.map((e: Partial<HeaderEntry> | null, i) => {
    const ok =
      typeof e?.name === 'string' &&
      typeof e.dtype === 'string' &&
      Object.hasOwn(BYTES, e.dtype) &&
      Array.isArray(e.shape) &&
      e.shape.every(isCount) &&
      isCount(e.offset) &&
      isCount(e.length) &&
      e.length === e.shape.reduce((a, d) => a * d, 1) * BYTES[e.dtype];
    if (!ok) throw new TensorCodecError(`tensor file header entry ${i} is not a {name, dtype, shape, offset, length}`);
    return e as HeaderEntry;
  });
}

/** Decodes what {@link encodeTensors} wrote; any other bytes are a TensorCodecError, never a TypeError or RangeError. */
export function decodeTensors(bytes: Uint8Array): Record<string, RawTensor> {
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC)
    throw new TensorCodecError('not a chrysalis tensor file (bad magic)');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + headerLength > bytes.length) throw new TensorCodecError('truncated tensor file header');
  const tensors = headerEntries(bytes.subarray(8, 8 + headerLength));
  const dataStart = align8(8 + headerLength);
  const out: Record<string, RawTensor> = {};
  for (const e of tensors) {
    const start = dataStart + e.offset;
    if (start + e.length > bytes.length)
      throw new TensorCodecError(`truncated tensor file: ${e.name} runs past the end`);
    // Copy so the result is aligned and independent of the (possibly pooled) input buffer.
    const copy = bytes.slice(start, start + e.length).buffer;
    out[e.name] = { dtype: e.dtype, shape: e.shape, data: typedArray(e.dtype, copy) };
  }
  return out;
}
