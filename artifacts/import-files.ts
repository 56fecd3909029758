/**
 * The files of an import (a teacher or a student's topology): fetched from a local path (confined to the data
 * roots), the store (`minio:<key>`) or an http(s) URL, digested by content, and stored under that digest.
 */
import { ApplicationFailure } from '@temporalio/common';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import { ArtifactNotFoundError } from '../storage/errors';
import { sha256Hex } from '../storage/hash';
import { FailureType } from '../common/failure-types';
import { keys } from '../common/store-keys';
import type { TeacherImport } from '../config/schemas';
import { TeacherLoadError } from '../ml/imported-teacher';
import { readTar } from '../storage/tar';
import { confinedPath } from '../data/roots';
import { failure, invalidInput } from '../data/input-failures';
import { parseUserFile } from '../data/user-files';
import type { UserFile } from '../data/user-files';

const importDir = keys.importDir;

export interface ImportDeps {
  store: ArtifactStore;
  /** Local files must lie under these (CHRYSALIS_DATA_ROOTS). @default none: every local path is refused */
  dataRoots?: readonly string[];
  logger: { info(o: object, msg: string): void };
  /** Seconds before an http(s) download is abandoned (retryable). @default 60 */
  downloadTimeoutSeconds?: number;
  /** Called while a download waits: the activity's heartbeat. @default none */
  heartbeat?: (details: unknown) => void;
}

/** The files of one import by relative path. */
export type Files = Map<string, Uint8Array>;

/** sha256 over the sorted relative paths, sizes and bytes: renaming a file changes it, as it changes the model. */
export function contentDigest(files: Files): string {
  const parts = [...files.keys()].sort().map((p) => `${p}\0${files.get(p)!.length}\0${sha256Hex(files.get(p)!)}`);
  return sha256Hex(parts.join('\n'));
}

/** Where an import's bytes are and what they are: a teacher's kind, or a student's topology (model.json alone). */
export interface ImportSource {
  /** `archive`: one .tar/.tar.gz file, read as it is (a SavedModel directory packed for http or the store). */
  kind: TeacherImport['kind'] | 'topology' | 'archive';
  path: string;
}

/** A SavedModel given as one archive file rather than a directory. */
export const SAVEDMODEL_ARCHIVE = /\.(tar|tar\.gz|tgz)$/i;

/** The tfjs model.json's weight shards, relative to it; `where` names the field and the file in messages. */
function shardPaths(modelJson: Uint8Array, where: UserFile): string[] {
  return parseUserFile({ ...where, format: 'TensorFlow.js model.json' }, () => {
    const json = JSON.parse(new TextDecoder().decode(modelJson)) as { weightsManifest?: unknown };
    const manifest = json.weightsManifest ?? [];
    if (!Array.isArray(manifest)) throw new TeacherLoadError('model.json: weightsManifest is not a list');
    const paths = manifest.flatMap((g: { paths?: unknown }, i) => {
      if (!Array.isArray(g?.paths) || !g.paths.every((p) => typeof p === 'string'))
        throw new TeacherLoadError(`model.json: weightsManifest[${i}].paths is not a list of file names`);
      return g.paths;
    });
    const bad = paths.find((p) => p.startsWith('/') || p.split('/').includes('..') || /^[a-z]+:/i.test(p));
    if (bad) throw new TeacherLoadError(`model.json names a weight file outside its directory: "${bad}"`);
    return paths;
  });
}

/** Reads the import's files through `read` (relative path → bytes), model.json first for a tfjs model. */
async function collect(src: ImportSource, field: string, read: (rel: string) => Promise<Uint8Array>): Promise<Files> {
  const files: Files = new Map();
  if (src.kind === 'npy' || src.kind === 'archive') {
    files.set(src.kind === 'npy' ? 'teacher.npy' : 'archive', await read(''));
    return files;
  }
  const modelJson = await read('');
  files.set('model.json', modelJson);
  // A student topology's weights are never read: it trains from a fresh, seeded initialisation.
  if (src.kind === 'topology') return files;
  for (const p of shardPaths(modelJson, { field, file: src.path })) files.set(p, await read(p));
  return files;
}

/** A local file that cannot be read: the input's fault (missing, a directory, no permission), final. */
function unreadable(field: string, file: string) {
  return (err: unknown): never => {
    throw invalidInput(`${field}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  };
}

/** Local files, each confined to the data roots (a link out of them is refused too) before it is read. */
async function localFiles(src: ImportSource, field: string, roots: readonly string[]): Promise<Files> {
  const read = async (file: string) => {
    const local = await confinedPath(file, field, roots);
    return new Uint8Array(await readFile(local).catch(unreadable(field, file)));
  };
  if (src.kind !== 'savedmodel') {
    const dir = path.dirname(src.path);
    return collect(src, field, (rel) => read(rel === '' ? src.path : path.join(dir, rel)));
  }
  const root = await confinedPath(src.path, field, roots);
  const names = await readdir(root, { recursive: true }).catch(unreadable(field, src.path));
  const files: Files = new Map();
  for (const rel of names.sort()) {
    const full = path.join(src.path, rel);
    if ((await stat(full)).isFile()) files.set(rel.split(path.sep).join('/'), await read(full));
  }
  return files;
}

async function storeFiles(store: ArtifactStore, src: ImportSource, field: string): Promise<Files> {
  const key = src.path.slice('minio:'.length);
  const get = (k: string) =>
    store.get(k).catch((err: unknown) => {
      if (err instanceof ArtifactNotFoundError)
        throw invalidInput(`${field}: not found: no object "${k}" in the store`);
      throw err;
    });
  if (src.kind !== 'savedmodel') {
    const dir = key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : '';
    return collect(src, field, (rel) => get(rel === '' ? key : `${dir}${rel}`));
  }
  const prefix = key.endsWith('/') ? key : `${key}/`;
  const listed = await store.list(prefix);
  if (listed.length === 0) throw invalidInput(`${field}: not found: no objects under "${prefix}" in the store`);
  const files: Files = new Map();
  for (const k of listed) files.set(k.slice(prefix.length), await get(k));
  return files;
}

/**
 * GETs a URL. A 4xx is the input's fault (final); no answer within the timeout (headers or body) or a 5xx may pass
 * on a later attempt: `SourceUnavailable`, retried by the activity's retry policy. Heartbeats while it waits.
 */
async function download(
  url: string,
  field: string,
  timeoutSeconds: number,
  heartbeat: ImportDeps['heartbeat'],
): Promise<Uint8Array> {
  const failed = (why: string) =>
    failure(FailureType.SourceUnavailable, `${field}: downloading ${url} failed: ${why} (retried)`);
  const beat = setInterval(() => heartbeat?.({ downloading: url }), 5000);
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000), redirect: 'follow' });
    if (res.status >= 400 && res.status < 500)
      throw invalidInput(`${field}: downloading ${url}: HTTP ${res.status} ${res.statusText}`);
    if (!res.ok) throw failed(`HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    const e = err as Error;
    throw failed(e.name === 'TimeoutError' ? `timed out after ${timeoutSeconds} s` : e.message);
  } finally {
    clearInterval(beat);
  }
}

/**
 * An import's files from a local path (confined to the data roots), the store (`minio:`) or an http(s) URL
 * (downloaded now). `field` is the config field of the path, for messages ("teachers.import.0.path").
 */
export async function fetchFiles(deps: ImportDeps, src: ImportSource, field: string): Promise<Files> {
  if (src.kind === 'savedmodel' && SAVEDMODEL_ARCHIVE.test(src.path.split('?')[0]!)) {
    const archive = (await fetchFiles(deps, { kind: 'archive', path: src.path }, field)).get('archive')!;
    return savedModelArchive(archive, field, src.path);
  }
  if (src.path.startsWith('minio:')) return storeFiles(deps.store, src, field);
  if (!/^https?:\/\//.test(src.path)) return localFiles(src, field, deps.dataRoots ?? []);
  const timeout = deps.downloadTimeoutSeconds ?? 60;
  const base = new URL(src.path);
  return collect(src, field, (rel) =>
    download(rel === '' ? src.path : new URL(rel, base).href, field, timeout, deps.heartbeat),
  );
}

/**
 * A SavedModel directory packed as a tar archive: its files by path, the directory's own name dropped when the
 * archive holds one folder with saved_model.pb in it (`tar czf teacher.tar.gz teacher/`).
 */
function savedModelArchive(archive: Uint8Array, field: string, ref: string): Files {
  const files = parseUserFile({ field, file: ref, format: 'tar archive' }, () => readTar(archive));
  if (files.has('saved_model.pb')) return files;
  const tops = new Set([...files.keys()].map((p) => p.split('/')[0]!));
  const [top] = tops;
  if (tops.size === 1 && files.has(`${top}/saved_model.pb`))
    return new Map([...files].map(([p, b]) => [p.slice(top!.length + 1), b]));
  throw invalidInput(`${field}: ${ref}: the archive holds no saved_model.pb (at its root or in its one folder)`);
}

/** Stores the files under their digest, import.json last (so its presence means complete). */
export async function saveFiles(store: ArtifactStore, sha256: string, kind: string, files: Files): Promise<void> {
  const done = keys.importManifest(sha256);
  if (await store.stat(done)) return;
  for (const [rel, bytes] of files) await store.put(`${importDir(sha256)}/files/${rel}`, bytes);
  await putJson(store, done, { kind, sha256, files: [...files.keys()].sort() });
}
