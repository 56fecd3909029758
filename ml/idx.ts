/** Reader for the IDX format (MNIST, Fashion-MNIST), raw or gzip-compressed. */
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  /** Dimensions, e.g. [60000, 28, 28] for images or [60000] for labels. */
  shape: number[];
  data: Uint8Array;
}

export class IdxFormatError extends Error {
  override readonly name = 'IdxFormatError';
}

export function parseIdx(input: Uint8Array, source = 'input'): IdxArray {
  const bytes = input[0] === 0x1f && input[1] === 0x8b ? new Uint8Array(gunzipSync(input)) : input;
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0)
    throw new IdxFormatError(`${source}: not an IDX file (bad magic)`);
  if (bytes[2] !== 0x08)
    throw new IdxFormatError(
      `${source}: only unsigned-byte IDX data is supported (type 0x${(bytes[2] ?? 0).toString(16)})`,
    );
  const dims = bytes[3] ?? 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const offset = 4 + 4 * dims;
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - offset !== count)
    throw new IdxFormatError(`${source}: header promises ${count} values, file holds ${bytes.length - offset}`);
  return { shape, data: bytes.subarray(offset) };
}

/** Encodes unsigned bytes as IDX (used by tests and by `chrysalis predict` fixtures). */
export function encodeIdx(shape: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  out[2] = 0x08;
  out[3] = shape.length;
  const view = new DataView(out.buffer);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * shape.length);
  return out;
}
