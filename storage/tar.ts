/**
 * Reading a tar archive (optionally gzip-compressed) into its regular files, in memory: how a directory — a
 * SavedModel — travels as one file over http(s) or through the store. POSIX ustar with the GNU long-name and
 * pax path extensions (what `tar czf` and Python's tarfile write); links, devices and directories are skipped.
 * Entry names are relative paths: an absolute name or a `..` segment refuses the whole archive.
 */
import { gunzipSync } from 'node:zlib';

export class TarError extends Error {
  override readonly name = 'TarError';
}

const BLOCK = 512;

function text(b: Uint8Array, start: number, length: number): string {
  const field = b.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

function octal(b: Uint8Array, start: number, length: number, what: string): number {
  const s = text(b, start, length).trim();
  if (!/^[0-7]*$/.test(s)) throw new TarError(`a tar header's ${what} is not octal ("${s}")`);
  return s === '' ? 0 : parseInt(s, 8);
}

/** The `path` record of a pax extended header, if any. */
function paxPath(data: Uint8Array): string | undefined {
  const records = new TextDecoder().decode(data).split('\n');
  for (const r of records) {
    const m = /^\d+ path=(.*)$/.exec(r);
    if (m) return m[1];
  }
  return undefined;
}

function checkedName(name: string): string {
  const clean = name.replace(/^\.\//, '');
  if (clean.startsWith('/') || clean.split('/').includes('..'))
    throw new TarError(`the archive names "${name}": entries must be relative paths without ".."`);
  return clean;
}

/** Whether `bytes` start like a gzip stream. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The archive's regular files by relative path (a `.tar` or `.tar.gz`). */
export function readTar(archive: Uint8Array): Map<string, Uint8Array> {
  let b: Uint8Array;
  try {
    b = isGzip(archive) ? new Uint8Array(gunzipSync(archive)) : archive;
  } catch (err) {
    throw new TarError(`not a readable gzip stream: ${(err as Error).message}`);
  }
  const files = new Map<string, Uint8Array>();
  let at = 0;
  let longName: string | undefined;
  while (at + BLOCK <= b.length) {
    const header = b.subarray(at, at + BLOCK);
    if (header.every((x) => x === 0)) return files;
    const size = octal(header, 124, 12, 'size');
    const type = String.fromCharCode(header[156]!);
    const sum = octal(header, 148, 8, 'checksum');
    const actual = header.reduce((a, x, i) => a + (i >= 148 && i < 156 ? 32 : x), 0);
    if (sum !== actual) throw new TarError(`tar header at byte ${at}: checksum ${sum}, computed ${actual}`);
    const data = b.subarray(at + BLOCK, at + BLOCK + size);
    if (data.length < size) throw new TarError(`the archive is truncated inside "${text(header, 0, 100)}"`);
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') longName = text(data, 0, data.length);
    else if (type === 'x') longName = paxPath(data) ?? longName;
    else if (type === 'g') continue;
    else {
      const prefix = text(header, 345, 155);
      const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
      longName = undefined;
      const checked = checkedName(name);
      if (type === '0' || type === '\0') files.set(checked, data.slice());
    }
  }
  throw new TarError('the archive ends without its end-of-archive blocks (truncated?)');
}
