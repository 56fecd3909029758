/**
 * Teachers from outside (`teachers: { import: [...] }`): each import's files are fetched once (a local path,
 * `minio:<key>`, or an http(s) URL), stored under their content digest, then loaded and probed on a few
 * transfer examples so that a wrong shape fails before any training, naming the field and both shapes.
 * Only small refs leave the activity; computeSoftTargets runs the teachers on the whole transfer set.
 *
 * Store layout:
 *   imports/<sha256>/files/<relative path>   the import's bytes (a SavedModel keeps its directory layout)
 *   imports/<sha256>/import.json             written last: the import is complete
 *   imports/<sha256>/probe-<digest>.json     the shape check passed for one (teacher reading, data plan)
 *   imports/by-url/<digest>.json             an http(s) source already downloaded: its sha256
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArtifactStore } from '../storage/artifact-store';
import { getJson, putJson } from '../storage/artifact-store';
import { digestOf } from '../storage/hash';
import { keys } from '../common/store-keys';
import type { TeacherImport } from '../config/schemas';
import type { ImportedTeacherRef } from '../contracts/exchange';
import {
  inputLayout,
  loadSavedModelTeacher,
  loadTfjsTeacher,
  TeacherLoadError,
  teacherLogits,
} from '../ml/imported-teacher';
import type { LoadedTeacher } from '../ml/imported-teacher';
import { decodeNpy, NpyError } from '../ml/npy';
import { inputSizeOf } from '../common/input-shape';
import type { Dataset, Pixels } from '../ml/datasets';
import { loadPlan } from './models';
import { datasetFor } from '../data/sources';
import { invalidInput } from '../data/input-failures';
import { parseUserFile, userFileFailure } from '../data/user-files';
import type { UserFile } from '../data/user-files';
import type { DataPlanRef } from '../contracts/exchange';

import { contentDigest, fetchFiles, saveFiles } from './import-files';
import type { Files, ImportDeps } from './import-files';

/** Transfer examples a teacher is probed on before it runs on all of them. */
const PROBE_EXAMPLES = 8;

const importDir = keys.importDir;

/** An import's files once fetched, not yet stored: they are stored only once they have loaded and probed. */
interface Fetched {
  sha256: string;
  /** Undefined when an http(s) source was stored before (by its URL): nothing to fetch or store again. */
  files: Files | undefined;
  /** For an http(s) source: the key that records its URL's sha256, written once the files are stored. */
  byUrl?: { key: string; url: string };
}

/** The import's files and their digest; an http(s) source seen before is not downloaded again. */
async function fetchImport(deps: ImportDeps, imp: TeacherImport, field: string): Promise<Fetched> {
  const { store } = deps;
  if (!/^https?:\/\//.test(imp.path)) {
    const files = await fetchFiles(deps, imp, `${field}.path`);
    return { sha256: contentDigest(files), files };
  }
  const byUrl = `imports/by-url/${digestOf({ url: imp.path, kind: imp.kind })}.json`;
  const seen = await store.stat(byUrl);
  if (seen) {
    const { sha256 } = await getJson<{ sha256: string }>(store, seen);
    if (await store.stat(keys.importManifest(sha256))) return { sha256, files: undefined };
  }
  const files = await fetchFiles(deps, imp, `${field}.path`);
  return { sha256: contentDigest(files), files, byUrl: { key: byUrl, url: imp.path } };
}

/** The ref for one import, its files fetched (not stored): its digest covering everything that shapes its logits. */
async function importRef(
  deps: ImportDeps,
  imp: TeacherImport,
  field: string,
): Promise<{ ref: ImportedTeacherRef; fetched: Fetched }> {
  const fetched = await fetchImport(deps, imp, field);
  const { sha256, files } = fetched;
  if (files?.size === 0) throw invalidInput(`${field}.path: ${imp.path} holds no files`);
  const names = files
    ? [...files.keys()].sort()
    : (await getJson<{ files: string[] }>(deps.store, keys.importManifest(sha256))).files;
  const reading =
    imp.kind === 'savedmodel'
      ? { signature: imp.signature ?? 'serving_default', ...(imp.outputName ? { outputName: imp.outputName } : {}) }
      : {};
  const digest = digestOf({ v: 1, import: sha256, kind: imp.kind, outputs: imp.outputs, ...reading });
  const ref = { digest, sha256, kind: imp.kind, outputs: imp.outputs, ...reading, files: names, field };
  return { ref: { ...ref, source: imp.path }, fetched };
}

/** Stores what {@link importRef} fetched: the files, then (http) the record of the URL. */
async function storeFetched(store: ArtifactStore, kind: string, fetched: Fetched): Promise<void> {
  if (!fetched.files) return;
  await saveFiles(store, fetched.sha256, kind, fetched.files);
  if (fetched.byUrl) await putJson(store, fetched.byUrl.key, { url: fetched.byUrl.url, sha256: fetched.sha256 });
}

/** An import's files by relative path: from memory before they are stored, from the store after. */
type ImportReader = (rel: string) => Promise<Uint8Array>;

function storedReader(store: ArtifactStore, ref: Pick<ImportedTeacherRef, 'sha256'>): ImportReader {
  return (rel) => store.get(`${importDir(ref.sha256)}/files/${rel}`);
}

function memoryReader(files: Files): ImportReader {
  return async (rel) => {
    const bytes = files.get(rel);
    if (!bytes) throw new TeacherLoadError(`model.json names "${rel}", which the import does not hold`);
    return bytes;
  };
}

/** A SavedModel's files on this worker's disk (loaded by path), written once per digest. */
async function materialize(read: ImportReader, ref: ImportedTeacherRef): Promise<string> {
  const dir = path.join(os.tmpdir(), 'chrysalis-imports', ref.sha256);
  if (await stat(path.join(dir, '.complete')).catch(() => undefined)) return dir;
  const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
  for (const rel of ref.files) {
    await mkdir(path.dirname(path.join(tmp, rel)), { recursive: true });
    await writeFile(path.join(tmp, rel), await read(rel));
  }
  await writeFile(path.join(tmp, '.complete'), '');
  await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  return dir;
}

/** Loads an imported SavedModel or tfjs model from the store; a model that cannot be used fails naming the field. */
export function loadImported(store: ArtifactStore, ref: ImportedTeacherRef): Promise<LoadedTeacher> {
  return loadTeacher(storedReader(store, ref), ref);
}

/** Where an import's bytes came from, for {@link parseUserFile}: its path field and the path as given. */
function importFile(ref: ImportedTeacherRef, format: string): UserFile {
  return { field: `${ref.field}.path`, file: ref.source ?? `imports/${ref.sha256}`, format };
}

/**
 * Loads a teacher from its files. Reading them (the store, this worker's disk) happens first, outside the parse:
 * those errors keep their retry policy; whatever the loaders throw on the bytes is InvalidInput naming the field.
 */
async function loadTeacher(read: ImportReader, ref: ImportedTeacherRef): Promise<LoadedTeacher> {
  // A signature or output that the model lacks names its own field, not the path's.
  const ownField = (err: unknown): never => {
    if (err instanceof TeacherLoadError && err.field) throw invalidInput(`${ref.field}.${err.field}: ${err.message}`);
    throw err;
  };
  if (ref.kind === 'savedmodel') {
    const dir = await materialize(read, ref);
    return parseUserFile(importFile(ref, 'SavedModel'), () => loadSavedModelTeacher(dir, ref).catch(ownField));
  }
  const files: Files = new Map();
  for (const rel of ref.files) files.set(rel, await read(rel));
  return parseUserFile(importFile(ref, 'TensorFlow.js model'), () => loadTfjsTeacher(memoryReader(files)));
}

/**
 * What the native runtime says of a SavedModel it loaded but cannot run (variables the session loader did not find,
 * ops this TensorFlow lacks): the model's fault, found only once it runs.
 */
const SAVEDMODEL_RUN_ERROR = /Op type not registered|Could not find variable|SavedModel|saved_model\.pb/;

/** Errors of a loaded teacher's run and outputs, as InvalidInput naming the field; anything else as it is. */
function asInvalid(err: unknown, ref: ImportedTeacherRef): unknown {
  if (err instanceof TeacherLoadError)
    return invalidInput(`${ref.field}${err.field ? `.${err.field}` : ''}: ${err.message}`);
  if (ref.kind === 'savedmodel' && err instanceof Error && SAVEDMODEL_RUN_ERROR.test(err.message))
    return userFileFailure(importFile(ref, 'SavedModel'), err);
  return err;
}

/** The teacher's feed layout for the data's images; a mismatch fails naming both shapes. */
function layoutFor(teacher: LoadedTeacher, ds: Dataset, ref: ImportedTeacherRef): number[] {
  const layout = inputLayout(teacher.inputShape, ds.shape);
  if (!layout) {
    const accepted = [
      [inputSizeOf(ds.shape)],
      [ds.rows, ds.cols, ds.channels],
      ...(ds.channels === 1 ? [ds.shape] : []),
    ];
    throw invalidInput(
      `${ref.field}: teacher input shape [${teacher.inputShape.map((d) => d ?? '?').join(', ')}] does not match ` +
        `the data's images [${ds.shape.join(', ')}] ` +
        `(a teacher may take ${accepted.map((a) => `[${a.join(', ')}]`).join(' or ')})`,
    );
  }
  if (teacher.outputWidth !== null && teacher.outputWidth !== ds.numClasses)
    throw invalidInput(
      `${ref.field}: teacher output shape [?, ${teacher.outputWidth}] does not match the data's ` +
        `${ds.numClasses} classes ([?, ${ds.numClasses}])`,
    );
  return layout;
}

/** A loaded teacher's logits (n × classes) on `images` at `indices`, fed as for its soft targets. */
/** `firstRow`: where `indices[0]` lies in the whole set (fixed inference batches, ml/batches.ts alignedBatches). */
export type TeacherForward = (images: Pixels, indices: Int32Array, firstRow?: number) => Promise<Float32Array>;

/**
 * Runs `use` with an imported SavedModel or tfjs teacher's forward pass: its layout checked against the data, its
 * outputs turned into logits as the config declares; the teacher is disposed after. Soft targets (transfer set) and
 * evaluation (test set, validation split) feed it through here alike.
 */
export function withImportedTeacher<T>(
  store: ArtifactStore,
  ref: ImportedTeacherRef,
  ds: Dataset,
  use: (forward: TeacherForward) => Promise<T>,
): Promise<T> {
  return withTeacher(storedReader(store, ref), ref, ds, use);
}

async function withTeacher<T>(
  read: ImportReader,
  ref: ImportedTeacherRef,
  ds: Dataset,
  use: (forward: TeacherForward) => Promise<T>,
): Promise<T> {
  const teacher = await loadTeacher(read, ref);
  try {
    const layout = layoutFor(teacher, ds, ref);
    const opts = { layout, classes: ds.numClasses, outputs: ref.outputs };
    return await use((images, indices, firstRow = 0) =>
      teacherLogits(teacher, { images, side: ds.shape, indices, firstRow }, opts),
    );
  } catch (err) {
    throw asInvalid(err, ref);
  } finally {
    teacher.dispose();
  }
}

/**
 * Logits of one imported teacher on the transfer images at `indices` (n × classes). For `npy`, the stored rows,
 * after checking dtype and shape against [transfer n, classes]; `indices` must be the whole transfer set.
 */
export function importedLogits(
  store: ArtifactStore,
  ref: ImportedTeacherRef,
  ds: Dataset,
  indices: Int32Array,
  /** Where `indices[0]` lies in the transfer set. @default 0 */
  firstRow = 0,
): Promise<Float32Array> {
  return logitsOf(storedReader(store, ref), ref, ds, indices, firstRow);
}

function logitsOf(
  read: ImportReader,
  ref: ImportedTeacherRef,
  ds: Dataset,
  indices: Int32Array,
  firstRow: number,
): Promise<Float32Array> {
  if (ref.kind === 'npy') return npyLogits(read, ref, indices.length, ds.numClasses);
  return withTeacher(read, ref, ds, (forward) => forward(ds.train.images, indices, firstRow));
}

async function npyLogits(read: ImportReader, ref: ImportedTeacherRef, n: number, C: number): Promise<Float32Array> {
  const bytes = await read('teacher.npy');
  return parseUserFile(importFile(ref, '.npy file'), () => {
    const arr = decodeNpy(bytes);
    const [rows, cols] = arr.shape;
    if (arr.shape.length !== 2 || rows !== n || cols !== C)
      throw new NpyError(
        `.npy shape [${arr.shape.join(', ')}] does not match [${n}, ${C}] ` +
          `(the transfer set's ${n} examples × ${C} classes, row i for the i-th transfer example)`,
      );
    const bad = arr.data.findIndex(
      (v) => !(Number.isFinite(v) || (ref.outputs === 'log-probabilities' && v === -Infinity)),
    );
    if (bad >= 0)
      throw new NpyError(`row ${Math.floor(bad / C)}, column ${bad % C} is ${arr.data[bad]}: the .npy must be finite`);
    return ref.outputs === 'probabilities' ? arr.data.map((p) => Math.log(Math.max(p, 1e-30))) : arr.data;
  });
}

/**
 * Fetches, probes and stores every import (in order), for one data plan. Files are stored only once they loaded
 * and probed, so an import that fails leaves nothing under its key. A probe that passed before for the same teacher
 * and plan is not repeated, so a run whose soft targets are cached does no teacher inference.
 */
export async function importTeachers(
  deps: ImportDeps,
  req: { imports: TeacherImport[]; data: DataPlanRef },
): Promise<{ teachers: ImportedTeacherRef[]; probed: number }> {
  const { store } = deps;
  const teachers: ImportedTeacherRef[] = [];
  let probed = 0;
  for (const [i, imp] of req.imports.entries()) {
    const { ref, fetched } = await importRef(deps, imp, `teachers.import.${i}`);
    const probeKey =
      `${importDir(ref.sha256)}/probe-` + `${digestOf({ teacher: ref.digest, plan: req.data.planDigest })}.json`;
    const probe = !(await store.stat(probeKey));
    if (probe) {
      const ds = await datasetFor(req.data, deps);
      const { transfer } = await loadPlan(store, req.data.plan);
      const few = ref.kind === 'npy' ? transfer : transfer.subarray(0, PROBE_EXAMPLES);
      const read = fetched.files ? memoryReader(fetched.files) : storedReader(store, ref);
      await logitsOf(read, ref, ds, few, 0);
      await storeFetched(store, imp.kind, fetched);
      await putJson(store, probeKey, { teacher: ref.digest, planDigest: req.data.planDigest, examples: few.length });
      probed++;
    } else await storeFetched(store, imp.kind, fetched);
    deps.logger.info({ field: ref.field, kind: ref.kind, sha256: ref.sha256 }, 'teacher imported');
    teachers.push(ref);
  }
  return { teachers, probed };
}
