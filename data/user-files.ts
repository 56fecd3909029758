/**
 * The one boundary between bytes a user supplied and the code that parses them. Whatever a parse of a user's file
 * throws — a format error of ours, a TypeError from a field of the wrong type, a protobuf or zlib error from a
 * library, a RangeError from a length that lies — is the input's fault and repeats on every attempt: it becomes a
 * non-retryable InvalidInput naming the config field and the file. Only errors of the machinery around a parse (the
 * store, the native backend, the operating system) pass through as they are, so their retry policy still applies.
 */
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { BackendUnavailableError } from '../ml/backend';
import type { FileGuard } from '../ml/datasets';
import { IdxFormatError } from '../ml/idx';
import { CsvError, ImageDecodeError } from './format-errors';
import { TeacherLoadError } from '../ml/imported-teacher';
import { TopologyError } from '../ml/layers-net';
import { NormalizationError } from '../ml/normalize';
import { NpyError } from '../ml/npy';
import { ArtifactCorruptError, StoreUnavailableError } from '../storage/errors';
import { TarError } from '../storage/tar';
import { TensorCodecError } from '../storage/tensor-codec';
import { invalidInput } from './input-failures';

/** A file a user gave, as the config names it. */
export interface UserFile {
  /** The config field that names the file, e.g. "data.idx.trainLabels". */
  field: string;
  /** The file as the user gave it: a local path, `minio:<key>` or a URL. */
  file: string;
  /** What the file should be, for errors that do not say it themselves, e.g. "IDX file". @default 'file' */
  format?: string;
}

/** Errors a retry may fix: the store or the native backend unreachable, or a system call failing (EIO, EMFILE). */
export function isInfrastructureError(err: unknown): boolean {
  if (err instanceof StoreUnavailableError || err instanceof ArtifactCorruptError) return true;
  if (err instanceof BackendUnavailableError) return true;
  // Node's system errors name the call that failed; nothing that parses bytes in memory makes one.
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** The readers' own errors: each says what is wrong in the file's terms, so its message stands alone. */
const READER_ERRORS = [
  IdxFormatError,
  CsvError,
  NpyError,
  TarError,
  TensorCodecError,
  ImageDecodeError,
  TeacherLoadError,
  TopologyError,
  NormalizationError,
];

function describe(err: unknown, format: string): string {
  if (!(err instanceof Error)) return `not a readable ${format} (${String(err)})`;
  const first = err.message.split('\n')[0]!.trim();
  if (READER_ERRORS.some((E) => err instanceof E)) return first;
  // A TypeError from a field of the wrong type, a protobuf or zlib error: named by its class, after what was expected.
  return `not a readable ${format} (${err.name}: ${first})`;
}

/**
 * The failure for `err`, thrown while reading or parsing the bytes of `where`: InvalidInput naming the field and the
 * file, unless it is already a failure or an infrastructure error (then as it is).
 */
export function userFileFailure(where: UserFile, err: unknown): unknown {
  if (err instanceof ApplicationFailure || isInfrastructureError(err)) return err;
  return invalidInput(`${where.field}: ${where.file}: ${describe(err, where.format ?? 'file')}`);
}

/**
 * Runs `parse` (sync or async) on a user's file: every error it throws leaves as {@link userFileFailure} maps it.
 * Every reader of user bytes goes through here, so no parse error can reach Temporal as a plain, retried error.
 */
export function parseUserFile<T>(where: UserFile, parse: () => T): T {
  let out: T;
  try {
    out = parse();
  } catch (err) {
    throw userFileFailure(where, err);
  }
  if (out instanceof Promise)
    return out.catch((err: unknown) => {
      throw userFileFailure(where, err);
    }) as T;
  return out;
}

/** {@link parseUserFile} as the guard that ml/'s loaders of several files take (loadIdxFiles). */
export function userFileGuard(format: string): FileGuard {
  return (field, file, step) => parseUserFile({ field, file, format }, step);
}

/** Errors of reading a local file that are the file's own (missing, a folder, no permission, a link loop): final. */
const FILE_ERRNO = new Set(['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP', 'ENAMETOOLONG']);

/** Whether a failed read of a local file is the file's own fault (missing, a folder, …) rather than the machine's. */
export function isFileFault(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && FILE_ERRNO.has(code);
}

/**
 * Reads the local file `local` (already confined to the data roots) that `where` names. What is wrong with the file
 * itself is InvalidInput naming the field and the file; a failing disk or too many open files (EIO, EMFILE) is not
 * the input's fault and passes as it is, to be retried.
 */
export async function readLocalUserFile(where: UserFile, local: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(local));
  } catch (err) {
    if (isFileFault(err))
      throw invalidInput(`${where.field}: ${where.file}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
    throw err;
  }
}
