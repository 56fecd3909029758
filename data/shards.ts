/**
 * A dataset as shards in the store (docs/DATA.md, "Sharded data and streaming"): each split cut into objects of
 * `size` examples (inputs and labels), pinned by sha256 in one manifest, written once by prepareData under the
 * dataset's content digest. Workers then read the shards they need, never the source files: a training activity
 * a window at a time (ml/shards.ts), a teacher-inference block or an evaluation only the rows it scores.
 */
import type { ArtifactRef, ArtifactStore } from '../storage/artifact-store';
import { getJson, putJson } from '../storage/artifact-store';
import { decodeTensors, encodeTensors } from '../storage/tensor-codec';
import { keys } from '../common/store-keys';
import type { Dataset, Pixels, Split } from '../ml/datasets';
import type { InMemoryExamples, ShardStream } from '../ml/train';

/** A dataset without its examples: what models are built from. */
export type DatasetInfo = Omit<Dataset, 'train' | 'test'>;

type SplitName = 'train' | 'test';

export interface ShardsManifest {
  kind: 'chrysalis-shards';
  version: 1;
  /** The dataset's content digest: the shards hold exactly its examples. */
  datasetDigest: string;
  size: number;
  dtype: 'uint8' | 'float32';
  info: DatasetInfo;
  splits: Record<SplitName, { n: number; shards: ArtifactRef[] }>;
}

/** Writes the dataset's shards and manifest unless they are stored already (same digest, same size). */
export async function writeShards(store: ArtifactStore, ds: Dataset, size: number): Promise<ArtifactRef> {
  const manifestKey = keys.shardsManifest(ds.digest, size);
  const existing = await store.stat(manifestKey);
  if (existing) return existing;
  const split = async (name: SplitName) => {
    const s = ds[name];
    const width = s.n > 0 ? s.images.length / s.n : 0;
    const shards: ArtifactRef[] = [];
    for (let i = 0; i * size < s.n; i++) {
      const [from, to] = [i * size, Math.min(s.n, (i + 1) * size)];
      const images = s.images.subarray(from * width, to * width);
      const bytes = encodeTensors({
        images: { dtype: images instanceof Uint8Array ? 'uint8' : 'float32', shape: [to - from, width], data: images },
        labels: { dtype: 'uint8', shape: [to - from], data: s.labels.subarray(from, to) },
      });
      shards.push(await store.put(keys.shard(ds.digest, size, name, i), bytes));
    }
    return { n: s.n, shards };
  };
  const { train, test: _test, ...info } = ds;
  const manifest: ShardsManifest = {
    kind: 'chrysalis-shards',
    version: 1,
    datasetDigest: ds.digest,
    size,
    dtype: train.images instanceof Uint8Array ? 'uint8' : 'float32',
    info,
    splits: { train: await split('train'), test: await split('test') },
  };
  // Written last: a manifest means every shard it names is stored.
  return putJson(store, manifestKey, manifest);
}

const manifests = new Map<string, Promise<ShardsManifest>>();

/** A manifest, read (and verified) once per process: it is immutable and named by its sha256. */
export function readManifest(store: ArtifactStore, ref: ArtifactRef): Promise<ShardsManifest> {
  let p = manifests.get(ref.sha256);
  if (!p) {
    p = getJson<ShardsManifest>(store, ref);
    p.catch(() => manifests.delete(ref.sha256));
    manifests.set(ref.sha256, p);
  }
  return p;
}

/** One shard's examples, verified against the sha256 the manifest pins. */
async function readShard(store: ArtifactStore, m: ShardsManifest, split: SplitName, s: number) {
  const ref = m.splits[split].shards[s];
  if (!ref) throw new RangeError(`${split} shard ${s}: the dataset has ${m.splits[split].shards.length}`);
  const t = decodeTensors(await store.get(ref));
  return { images: t['images']!.data as Pixels, labels: t['labels']!.data as Uint8Array };
}

const shardLength = (m: ShardsManifest, split: SplitName, s: number) =>
  Math.min(m.size, m.splits[split].n - s * m.size);

/** An empty input array of the manifest's type. */
function inputs(m: ShardsManifest, length: number): Pixels {
  return m.dtype === 'uint8' ? new Uint8Array(length) : new Float32Array(length);
}

/** The examples of the given shards, concatenated in that order. */
async function loadShards(
  store: ArtifactStore,
  m: ShardsManifest,
  split: SplitName,
  shards: readonly number[],
): Promise<InMemoryExamples> {
  const width = inputWidth(m);
  const n = shards.reduce((sum, s) => sum + shardLength(m, split, s), 0);
  const images = inputs(m, n * width);
  const labels = new Uint8Array(n);
  let at = 0;
  for (const s of shards) {
    const shard = await readShard(store, m, split, s);
    images.set(shard.images, at * width);
    labels.set(shard.labels, at);
    at += shard.labels.length;
  }
  return { images, labels };
}

const inputWidth = (m: ShardsManifest) => m.info.rows * m.info.cols * m.info.channels;

/** The training split as a stream of shards, `window` at a time. */
export function shardStream(store: ArtifactStore, m: ShardsManifest, window?: number): ShardStream {
  return {
    shardSize: m.size,
    window: window ?? m.splits.train.shards.length,
    shardLength: (s) => shardLength(m, 'train', s),
    load: (shards) => loadShards(store, m, 'train', shards),
  };
}

/**
 * Only the given examples of a split, read a shard at a time (once each when the indices are sorted): row i of the
 * result is example indices[i]. What a block of teacher inference or an evaluation holds instead of the whole split.
 */
export async function splitRows(
  store: ArtifactStore,
  m: ShardsManifest,
  split: SplitName,
  indices: Int32Array,
): Promise<Split> {
  const width = inputWidth(m);
  const images = inputs(m, indices.length * width);
  const labels = new Uint8Array(indices.length);
  for (let r = 0; r < indices.length;) {
    const s = Math.floor(indices[r]! / m.size);
    const shard = await readShard(store, m, split, s);
    for (; r < indices.length && Math.floor(indices[r]! / m.size) === s; r++) {
      const local = indices[r]! - s * m.size;
      images.set(shard.images.subarray(local * width, (local + 1) * width), r * width);
      labels[r] = shard.labels[local]!;
    }
  }
  return { images, labels, n: indices.length };
}

/** Every example of a split. */
export async function wholeSplit(store: ArtifactStore, m: ShardsManifest, name: SplitName): Promise<Split> {
  const all = m.splits[name].shards.map((_, s) => s);
  return { ...(await loadShards(store, m, name, all)), n: m.splits[name].n };
}

/** A split of no examples, of the manifest's input type. */
export function emptySplit(m: ShardsManifest): Split {
  return { images: inputs(m, 0), labels: new Uint8Array(0), n: 0 };
}

/** The whole dataset from its shards: the same examples, byte for byte, as the source it was written from. */
export async function datasetFromShards(store: ArtifactStore, ref: ArtifactRef): Promise<Dataset> {
  const m = await readManifest(store, ref);
  return { ...m.info, train: await wholeSplit(store, m, 'train'), test: await wholeSplit(store, m, 'test') };
}
