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

/** IDX element types by their code (the third magic byte); only unsigned bytes are read. */
const IDX_TYPES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0').toUpperCase()}`;

/** The bytes of an IDX file, gunzipped when they start like gzip; a stream that only looks like one is refused. */
function unzipped(input: Uint8Array, at: string): Uint8Array {
  if (input[0] !== 0x1f || input[1] !== 0x8b) return input;
  try {
    return new Uint8Array(gunzipSync(input));
  } catch (err) {
    throw new IdxFormatError(
      `${at}starts like gzip (1f 8b) but is not a readable gzip stream (${(err as Error).message})`,
    );
  }
}

/**
 * Parses an IDX file (raw or gzip) of unsigned bytes. Anything else — another element type, a header the file
 * cannot hold, a size that does not match the header — is an {@link IdxFormatError} saying which, after `source`
 * when given.
 */
export function parseIdx(input: Uint8Array, source?: string): IdxArray {
  const at = source === undefined ? '' : `${source}: `;
  const bytes = unzipped(input, at);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0)
    throw new IdxFormatError(`${at}not an IDX file (bad magic)`);
  const type = bytes[2]!;
  if (type !== 0x08)
    throw new IdxFormatError(
      `${at}IDX dtype ${hex(type)} (${IDX_TYPES[type] ?? 'unknown'}) is not supported: ` +
        'only unsigned-byte IDX data (0x08) is read',
    );
  const dims = bytes[3]!;
  const offset = 4 + 4 * dims;
  if (bytes.length < offset)
    throw new IdxFormatError(`${at}the header declares ${dims} dimensions; the file ends inside the header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - offset !== count)
    throw new IdxFormatError(`${at}header promises ${count} values, file holds ${bytes.length - offset}`);
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
