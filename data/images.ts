/**
 * `dataset: "images"`, read and decoded in one place: folders of PNG/JPEG files, one sub-folder per class, decoded by
 * TensorFlow's native decoders (tfjs-node), resized to the declared input shape and kept as uint8 HWC like IDX data.
 * Class names are the folder names in code-point order (Keras' order). The digest covers the decoded pixels and
 * labels, so a changed file changes every cache key that depends on the data.
 *
 * PNG/JPEG to model input is here once: the image-folder dataset and `chrysalis predict` both call decodeImage, so a
 * served image goes through exactly the decode, resize and rounding its training images did.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import path from 'node:path';
import type { ImageFolders } from '../config/schemas';
import { imageFields } from '../ml/datasets';
import type { Dataset, Split } from '../ml/datasets';
import { confinedPath } from './roots';
import { invalidInput } from './input-failures';
import { ImageDecodeError } from './format-errors';
import { parseUserFile, readLocalUserFile } from './user-files';
import type * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError } from '../ml/backend';
import { tidyValues } from '../ml/tidy-values';

export { ImageDecodeError };

interface TfNode {
  node: { decodeImage(b: Uint8Array, channels?: number): tf.Tensor3D | tf.Tensor4D };
  image: { resizeBilinear(x: tf.Tensor3D, size: [number, number], alignCorners?: boolean): tf.Tensor3D };
  tidy<T extends tf.TensorContainer>(fn: () => T): T;
}

function tfNode(): TfNode {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@tensorflow/tfjs-node') as TfNode;
  } catch (err) {
    // The worker's fault, not the image's: another worker may have it.
    throw new BackendUnavailableError(
      `images are decoded by native TensorFlow, which this process lacks (${(err as Error).message.split('\n')[0]})`,
    );
  }
}

/**
 * One PNG or JPEG as [rows, cols, channels] uint8 pixels (HWC): decoded with `channels` (1 grey, 3 RGB),
 * resized bilinearly when its size differs, rounded back to 0-255.
 */
export function decodeImage(bytes: Uint8Array, shape: readonly [number, number, number]): Uint8Array {
  const t = tfNode();
  const [h, w, c] = shape;
  let img: tf.Tensor3D;
  try {
    img = t.node.decodeImage(bytes, c) as tf.Tensor3D;
  } catch (err) {
    throw new ImageDecodeError(`not a readable PNG or JPEG (${(err as Error).message.split('\n')[0]})`);
  }
  if (img.rank !== 3) {
    img.dispose();
    // tfjs-node's decodeImage also reads GIFs, as a stack of frames.
    throw new ImageDecodeError(`not a PNG or JPEG (decoded to a rank-${img.rank} stack of frames, as a GIF does)`);
  }
  try {
    const values = tidyValues(() =>
      img.shape[0] === h && img.shape[1] === w ? img : t.image.resizeBilinear(img, [h, w], true),
    );
    // A plain loop: Uint8Array.from with a mapping function took 35 ms for a 256 × 256 RGB image, this 0.8.
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(values[i]!)));
    return out;
  } finally {
    img.dispose();
  }
}

const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** The files of one folder, by class, and what it holds besides them (relative paths), to be named, not dropped. */
interface Listing {
  classes: Map<string, string[]>;
  ignored: string[];
}

/** The files of one folder, by class: `<dir>/<class>/*.png|jpg`, every path confined to the data roots. */
async function listClasses(field: string, dir: string, roots: readonly string[], minClasses: number): Promise<Listing> {
  const root = await confinedPath(dir, field, roots);
  const entries = await readdir(root, { withFileTypes: true }).catch((err: Error) => {
    throw invalidInput(`${field}: cannot read folder ${dir}: ${err.message}`);
  });
  const classes = new Map<string, string[]>();
  const ignored = entries.filter((e) => !e.isDirectory()).map((e) => e.name);
  // Code-point order, as Keras' image_dataset_from_directory numbers classes: a teacher trained there
  // gives its logits in the same class order.
  for (const d of entries.filter((e) => e.isDirectory()).sort((a, b) => byCodePoint(a.name, b.name))) {
    const inClass = await readdir(path.join(root, d.name), { withFileTypes: true });
    // A folder named like an image is no image; a link is kept, for confinedPath to check where it leads.
    const isImage = (e: Dirent) => !e.isDirectory() && IMAGE_FILE.test(e.name);
    ignored.push(...inClass.filter((e) => !isImage(e)).map((e) => `${d.name}/${e.name}`));
    const files = inClass
      .filter(isImage)
      .map((e) => e.name)
      .sort();
    classes.set(d.name, await Promise.all(files.map((f) => confinedPath(path.join(root, d.name, f), field, roots))));
  }
  if ([...classes.values()].filter((f) => f.length > 0).length < minClasses)
    throw invalidInput(
      `${field}: ${dir} needs at least ${minClasses} class folder${minClasses === 1 ? '' : 's'} ` +
        'with PNG or JPEG files',
    );
  return { classes, ignored: ignored.sort(byCodePoint) };
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Names at most this many ignored files in a note, then counts the rest. */
const NAMED_IGNORED = 10;

/** "data.images.train: ignored 1 file: b/notes.txt (not PNG or JPEG)", or nothing when nothing was ignored. */
function ignoredNote(field: string, ignored: readonly string[]): string[] {
  if (ignored.length === 0) return [];
  const named = ignored.slice(0, NAMED_IGNORED).join(', ');
  const more = ignored.length > NAMED_IGNORED ? ` and ${ignored.length - NAMED_IGNORED} more` : '';
  return [
    `${field}: ignored ${ignored.length} file${ignored.length === 1 ? '' : 's'}: ${named}${more} (not PNG or JPEG)`,
  ];
}

/** One image as `shape` uint8 pixels (decodeImage above); a file that is not one is InvalidInput naming it. */
function decode(field: string, file: string, bytes: Uint8Array, shape: ImageFolders['inputShape']): Uint8Array {
  return parseUserFile({ field, file, format: 'PNG or JPEG' }, () => decodeImage(bytes, shape));
}

/**
 * Whether a training file is held out for the test set: a hash of its path below the training folder
 * (`<class>/<file>`), so every run splits alike, wherever the folder is.
 */
function heldOut(file: string, root: string, fraction: number): boolean {
  const rel = path.relative(root, file).split(path.sep).join('/');
  return createHash('sha256').update(rel).digest().readUInt32BE(0) / 2 ** 32 < fraction;
}

async function readSplit(
  field: string,
  files: { file: string; label: number }[],
  shape: ImageFolders['inputShape'],
): Promise<Split> {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Uint8Array(files.length * size);
  for (const [i, f] of files.entries()) {
    const bytes = await readLocalUserFile({ field, file: f.file }, f.file);
    images.set(decode(field, f.file, bytes, shape), i * size);
  }
  return { images, labels: Uint8Array.from(files, (f) => f.label), n: files.length };
}

export async function loadImageFolders(spec: ImageFolders, roots: readonly string[]): Promise<Dataset> {
  const listed = await listClasses('data.images.train', spec.train, roots, 2);
  const train = listed.classes;
  const notes = ignoredNote('data.images.train', listed.ignored);
  const classNames = [...train.keys()];
  const labelled = (m: Map<string, string[]>) =>
    [...m].flatMap(([name, files]) => files.map((file) => ({ file, label: classNames.indexOf(name) })));
  let trainFiles = labelled(train);
  let testFiles: typeof trainFiles;
  if (spec.test) {
    const testListed = await listClasses('data.images.test', spec.test, roots, 1);
    const test = testListed.classes;
    notes.push(...ignoredNote('data.images.test', testListed.ignored));
    const unknown = [...test.keys()].filter((c) => !train.has(c));
    if (unknown.length > 0)
      throw invalidInput(`data.images.test: class folders not in the training folder: ${unknown.join(', ')}`);
    testFiles = labelled(test);
  } else {
    const fraction = spec.testFraction ?? 0.2;
    const root = await confinedPath(spec.train, 'data.images.train', roots);
    testFiles = trainFiles.filter((f) => heldOut(f.file, root, fraction));
    trainFiles = trainFiles.filter((f) => !heldOut(f.file, root, fraction));
  }
  const [trainSplit, testSplit] = [
    await readSplit('data.images.train', trainFiles, spec.inputShape),
    await readSplit(spec.test ? 'data.images.test' : 'data.images.train', testFiles, spec.inputShape),
  ];
  const hash = createHash('sha256').update(JSON.stringify({ classNames, inputShape: spec.inputShape }));
  for (const s of [trainSplit, testSplit]) hash.update(s.images).update(s.labels);
  const [rows, cols, channels] = spec.inputShape;
  return {
    name: 'images',
    digest: hash.digest('hex'),
    ...imageFields(classNames, rows, cols, channels),
    train: trainSplit,
    test: testSplit,
    ...(notes.length > 0 ? { ignored: notes } : {}),
  };
}
