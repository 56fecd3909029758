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
import { confinedPath } from './data-roots';
import type { CsvTableSpec, ImageFolders, NormalizeInput } from '../config/schemas';
import { loadImageFolders } from './image-folder';
import { loadCsvTable } from './csv-table';
import { NormalizationError, normalizedDataset, resolveNormalization } from '../ml/normalize';
import { invalidInput } from './failures';
import type { DataPlanRef } from './types';

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
      return loadIdxFiles(data.idx, read);
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
    if (err instanceof NormalizationError) throw invalidInput(`invalid input: ${err.message}`);
    throw err;
  }
}

/**
 * One data file: a local path on this worker under a data root, or `minio:<key>` in the store. A path
 * outside the roots is refused before it is opened (InvalidInput naming `field`); a missing file is
 * final (DatasetError, naming it); a store that cannot be reached is not (retried).
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
    throw new DatasetError(`cannot read data file ${ref}: ${(err as Error).message}`);
  }
}

/** Loads the dataset a data plan was made from, refusing one whose content changed since. */
export async function datasetFor(data: DataPlanRef, access: DataAccess): Promise<Dataset> {
  const ds = await loadSource(data, access);
  if (ds.digest !== data.datasetDigest)
    throw new Error(
      `dataset ${data.dataset} changed since the data plan was made (digest ${ds.digest} != ${data.datasetDigest})`,
    );
  return ds;
}
