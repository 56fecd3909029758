/**
 * Where an activity's dataset comes from: a built-in by name, IDX files from the worker's disk or the store
 * (`minio:<key>`), or image folders on the worker's disk; each loaded once per process.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ArtifactStore } from '../storage/artifact-store';
import { ArtifactNotFoundError } from '../storage/errors';
import type { DatasetName } from '../common/datasets';
import { DatasetError, loadDataset, loadIdxFiles } from '../ml/datasets';
import type { Dataset, IdxFiles } from '../ml/datasets';
import { confinedPath } from './roots';
import type { CsvTableSpec, ImageFolders, NormalizeInput } from '../config/schemas';
import { loadImageFolders } from './images';
import { loadCsvTable } from './csv';
import { NormalizationError, normalizedDataset, resolveNormalization } from '../ml/normalize';
import { invalidInput } from './input-failures';
import { isFileFault, userFileGuard } from './user-files';
import type { DataPlanRef, ShardsRef } from '../contracts/exchange';
import type { ExampleData } from '../ml/train';
import { datasetFromShards, emptySplit, readManifest, shardStream, splitRows, wholeSplit } from './shards';
import type { DatasetInfo, ShardsManifest } from './shards';

/** What reading a dataset needs: the store for `minio:` files, the data roots for local ones. */
export interface DataAccess {
  store?: ArtifactStore;
  /** Local files must lie under these. @default none: every local path is refused */
  dataRoots?: readonly string[];
}

/** User datasets, by their spec and roots: loaded once per process. */
const userCache = new Map<string, Promise<Dataset>>();

/** Where a dataset comes from, as the config's `data` (and a data plan) names it. */
export interface DataSource {
  dataset: string;
  idx?: IdxFiles | undefined;
  images?: ImageFolders | undefined;
  csv?: CsvTableSpec | undefined;
  normalize?: NormalizeInput | undefined;
}

/**
 * Built-in datasets by name; IDX files or a CSV table from the worker's disk or the store (`minio:<key>`); image
 * folders from the worker's disk; then the declared normalisation. Each loaded once per process.
 */
export function loadSource(data: DataSource, access: DataAccess): Promise<Dataset> {
  const key = JSON.stringify([data.dataset, data.idx ?? data.images ?? data.csv, data.normalize, access.dataRoots]);
  let p = userCache.get(key);
  if (!p) {
    p = loadRaw(data, access).then((ds) => (data.normalize ? normalized(ds, data.normalize) : ds));
    p.catch(() => userCache.delete(key));
    userCache.set(key, p);
  }
  return p;
}

function loadRaw(data: DataSource, access: DataAccess): Promise<Dataset> {
  const read = (ref: string, field: string) => readDataFile(ref, field, access);
  switch (data.dataset) {
    case 'idx':
      if (!data.idx) throw new DatasetError('dataset "idx" needs data.idx');
      return loadIdxFiles(data.idx, read, userFileGuard('IDX file'));
    case 'images':
      if (!data.images) throw new DatasetError('dataset "images" needs data.images');
      return loadImageFolders(data.images, access.dataRoots ?? []);
    case 'csv':
      if (!data.csv) throw new DatasetError('dataset "csv" needs data.csv');
      return loadCsvTable(data.csv, read);
    default:
      return loadDataset(data.dataset as DatasetName);
  }
}

/** The dataset with its declared normalisation applied; the digest covers the numbers it resolved to. */
function normalized(ds: Dataset, spec: NormalizeInput): Dataset {
  try {
    const norm = resolveNormalization(ds, spec);
    const digest = createHash('sha256')
      .update(`${ds.digest}:normalize:${JSON.stringify(norm)}`)
      .digest('hex');
    return normalizedDataset(ds, norm, digest);
  } catch (err) {
    if (err instanceof NormalizationError) throw invalidInput(`${err.message}`);
    throw err;
  }
}

/**
 * One data file: a local path on this worker under a data root, or `minio:<key>` in the store. A path
 * outside the roots is refused before it is opened (InvalidInput naming `field`); a missing file is
 * final (DatasetError, naming it); a store that cannot be reached, or a disk that fails, is not (retried).
 */
async function readDataFile(ref: string, field: string, { store, dataRoots }: DataAccess): Promise<Uint8Array> {
  if (ref.startsWith('minio:')) {
    const key = ref.slice('minio:'.length);
    if (!store) throw new DatasetError(`cannot read ${ref}: no artifact store on this worker`);
    try {
      return await store.get(key);
    } catch (err) {
      if (err instanceof ArtifactNotFoundError)
        throw new DatasetError(`data file ${ref}: not found in the store (key "${key}")`);
      throw err;
    }
  }
  const local = await confinedPath(ref, field, dataRoots ?? []);
  try {
    return new Uint8Array(await readFile(local));
  } catch (err) {
    // A failing disk or too many open files is this worker's trouble: retried, perhaps elsewhere.
    if (!isFileFault(err)) throw err;
    throw new DatasetError(`cannot read data file ${ref}: ${(err as Error).message}`);
  }
}

/** Sharded datasets assembled whole, for the activities that need every example at once: once per process. */
const fromShards = new Map<string, Promise<Dataset>>();

/**
 * Loads the dataset a data plan was made from, refusing one whose content changed since: from its shards when it
 * has them (no worker then needs the source files), else from the source.
 */
export async function datasetFor(data: DataPlanRef, access: DataAccess): Promise<Dataset> {
  let ds: Dataset;
  if (data.shards) {
    const ref = data.shards.manifest;
    let p = fromShards.get(ref.sha256);
    if (!p) {
      p = datasetFromShards(storeOf(access), ref);
      p.catch(() => fromShards.delete(ref.sha256));
      fromShards.set(ref.sha256, p);
    }
    ds = await p;
  } else ds = await loadSource(data, access);
  checkDigest(data, ds.digest);
  return ds;
}

function checkDigest(data: DataPlanRef, digest: string): void {
  if (digest !== data.datasetDigest)
    throw new Error(
      `dataset ${data.dataset} changed since the data plan was made (digest ${digest} != ${data.datasetDigest})`,
    );
}

function storeOf(access: DataAccess): ArtifactStore {
  if (!access.store) throw new DatasetError('a sharded dataset is read from the artifact store: none on this worker');
  return access.store;
}

async function manifestOf(data: DataPlanRef & { shards: ShardsRef }, access: DataAccess): Promise<ShardsManifest> {
  const m = await readManifest(storeOf(access), data.shards.manifest);
  checkDigest(data, m.datasetDigest);
  return m;
}

/**
 * What training reads: the dataset's facts, and its training examples whole in memory or, sharded, as a stream a
 * window at a time (ml/shards.ts).
 */
export async function trainingData(
  data: DataPlanRef,
  access: DataAccess,
): Promise<{ info: DatasetInfo; examples: ExampleData }> {
  if (!data.shards) {
    const { train, test: _test, ...info } = await datasetFor(data, access);
    return { info, examples: { images: train.images, labels: train.labels } };
  }
  const m = await manifestOf({ ...data, shards: data.shards }, access);
  return { info: m.info, examples: { stream: shardStream(storeOf(access), m, data.shards.window) } };
}

/**
 * The dataset holding only the given training examples (row i is example `rows[i]`), and the test split unless
 * `test: false`: what a block of teacher inference or an evaluation needs of a sharded dataset, read a shard at a
 * time. Unsharded, the dataset as it is with `rows` unchanged.
 */
export async function datasetWithRows(
  data: DataPlanRef,
  access: DataAccess,
  rows: Int32Array,
  opts: { test?: boolean } = {},
): Promise<{ ds: Dataset; rows: Int32Array }> {
  if (!data.shards) return { ds: await datasetFor(data, access), rows };
  const m = await manifestOf({ ...data, shards: data.shards }, access);
  const store = storeOf(access);
  const test = opts.test === false ? emptySplit(m) : await wholeSplit(store, m, 'test');
  const train = await splitRows(store, m, 'train', rows);
  return { ds: { ...m.info, train, test }, rows: Int32Array.from({ length: rows.length }, (_, i) => i) };
}
