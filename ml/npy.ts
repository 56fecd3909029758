/**
 * NumPy .npy files (format versions 1-3), for teacher outputs computed elsewhere: the header is parsed
 * strictly and only little-endian float32 in C order is accepted, so a float64 or transposed file is refused
 * with its dtype named instead of being read as garbage.
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** A .npy file that is not the float32 array it should be; the message says what it is instead. */
export class NpyError extends Error {
  override readonly name = 'NpyError';
}

export interface NpyArray {
  /** The dtype string of the header, e.g. "<f4". */
  dtype: string;
  shape: number[];
  /** The values, only for float32 files. */
  data: Float32Array;
}

interface Header {
  descr: string;
  fortran: boolean;
  shape: number[];
  dataOffset: number;
}

function parseHeader(bytes: Uint8Array): Header {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyError('not a .npy file (bad magic)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new NpyError(`unsupported .npy format version ${major}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (start + headerLen > bytes.length) throw new NpyError('truncated .npy header');
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new NpyError(`unreadable .npy header: ${text.trim()}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new NpyError(`bad .npy shape (${shapeText})`);
  return { descr, fortran: fortran === 'True', shape, dataOffset: start + headerLen };
}

/** Reads a .npy file; refuses anything but little-endian float32 in C order, and a size that does not match. */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  const h = parseHeader(bytes);
  if (h.descr !== '<f4' && h.descr !== '=f4')
    throw new NpyError(`dtype ${h.descr}, expected float32 ("<f4"); convert with .astype(numpy.float32)`);
  if (h.fortran) throw new NpyError('Fortran (column-major) order; save a C-ordered array (numpy.ascontiguousarray)');
  const count = h.shape.reduce((a, d) => a * d, 1);
  const body = bytes.subarray(h.dataOffset);
  if (body.length !== count * 4)
    throw new NpyError(`shape [${h.shape.join(', ')}] needs ${count * 4} data bytes, the file has ${body.length}`);
  // A copy: the file's data offset need not be 4-byte aligned in the caller's buffer.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(body);
  return { dtype: h.descr, shape: h.shape, data };
}

/** Writes a float32 array as a version-1 .npy file (little-endian, C order), header padded to 64 bytes. */
export function encodeNpy(shape: readonly number[], data: Float32Array, descr = '<f4'): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
