/**
 * Sharded data and streaming training below Temporal: the stream order (ml/shards.ts), the shard store, training
 * from a stream (one window: exactly the unsharded run; small windows: resumed mid-epoch exactly), and the compute
 * activities on a sharded plan giving the unsharded results.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { createComputeActivities } from '../../activities/compute';
import { datasetFromShards, readManifest, splitRows, writeShards } from '../../data/shards';
import { blockJob, membersOf } from '../../common/soft-target-blocks';
import { keys } from '../../common/store-keys';
import { createLogger } from '../../config';
import { distillationConfigSchema, trainSpecSchema } from '../../config/schemas';
import { specialistsConfigSchema } from '../../config/specialists';
import { buildNet, exportWeights, initBackend, train } from '../../ml';
import type { InMemoryExamples, ShardStream, TrainConfig, TrainData, TrainSnapshot } from '../../ml';
import type { BackendInfo } from '../../ml/backend';
import type { Dataset } from '../../ml/datasets';
import type { ImportedTeacherRef } from '../../activities/teacher-import';
import type { ModelRef } from '../../contracts/exchange';
import { epochWindows, shardStarts } from '../../ml/shards';
import { LocalArtifactStore } from '../../storage';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

const quiet = createLogger({ name: 'test', level: 'silent' });

test('stream order: every row once per epoch, at most `window` shards at a time, a function of the seed', () => {
  const indices = Int32Array.from({ length: 700 }, (_, i) => i * 3 + (i % 2)); // sorted, spread over 21 shards
  const starts = shardStarts(indices, 100, Math.ceil((indices.at(-1)! + 1) / 100));
  for (const epoch of [0, 1]) {
    const windows = epochWindows(starts, { shardSize: 100, window: 4 }, 5, epoch);
    const rows = windows.flatMap((w) => Array.from(w.rows));
    assert.deepEqual(
      [...rows].sort((a, b) => a - b),
      [...indices.keys()],
      `epoch ${epoch}: each row once`,
    );
    assert.ok(windows.every((w) => w.shards.length <= 4));
    for (const w of windows)
      for (const r of w.rows) assert.ok(w.shards.includes(Math.floor(indices[r]! / 100)), 'a row in its window');
    assert.deepEqual(epochWindows(starts, { shardSize: 100, window: 4 }, 5, epoch), windows, 'same seed, same order');
  }
  const [e0, e1] = [0, 1].map((e) => epochWindows(starts, { shardSize: 100, window: 4 }, 5, e));
  assert.notDeepEqual(e0![0]!.shards, e1![0]!.shards, 'another epoch, another shard order');
  const one = epochWindows(starts, { shardSize: 100, window: 99 }, 5, 0);
  assert.equal(one.length, 1);
  assert.equal(one[0]!.label, '0', 'one window keeps the unsharded shuffle seed');
  assert.throws(() => shardStarts(Int32Array.from([3, 2]), 10, 1), /sorted/);
});

test('checkpoint keys: a mid-epoch one sorts between its epoch ends and names its window', () => {
  const ks = [
    keys.checkpoint('d', 3),
    keys.checkpoint('d', 2, 4),
    keys.checkpoint('d', 2),
    keys.checkpoint('d', 2, 11),
  ];
  assert.deepEqual([...ks].sort(), [ks[2], ks[1], ks[3], ks[0]]);
  assert.deepEqual(keys.checkpointPosition(ks[1]!), { epoch: 2, window: 4 });
  assert.deepEqual(keys.checkpointPosition(ks[0]!), { epoch: 3, window: 0 });
  assert.equal(keys.checkpointPosition('checkpoints/d/other.cht'), undefined);
});

/** Bright-left vs bright-right 8×8 images, n of them. */
function toy(n: number): TrainData & InMemoryExamples {
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = (p % 8 < 4 === (labels[i] === 0) ? 180 : 20) + ((i * 7 + p) % 60);
  }
  const indices = Int32Array.from({ length: Math.floor(n * 0.8) }, (_, i) => Math.floor(i * 1.25));
  return { images, labels, side: [8, 8], indices };
}

/** The toy data as a stream of `shardSize`-example shards, counting the windows it loads. */
function streamed(d: InMemoryExamples, shardSize: number, window: number) {
  const n = d.labels.length;
  const loads: number[][] = [];
  const stream: ShardStream = {
    shardSize,
    window,
    shardLength: (s) => Math.min(shardSize, n - s * shardSize),
    load: async (shards) => {
      loads.push([...shards]);
      const parts = shards.map((s) => [s * shardSize, Math.min(n, (s + 1) * shardSize)] as const);
      const images = new Uint8Array(parts.reduce((a, [lo, hi]) => a + (hi - lo) * 64, 0));
      const labels = new Uint8Array(images.length / 64);
      let at = 0;
      for (const [lo, hi] of parts) {
        images.set(d.images.subarray(lo * 64, hi * 64), at * 64);
        labels.set(d.labels.subarray(lo, hi), at);
        at += hi - lo;
      }
      return { images, labels };
    },
  };
  return { stream, loads };
}

const cfg: TrainConfig = {
  epochs: 3,
  batchSize: 16,
  optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 },
  seed: 11,
  jitter: 1,
};
const net = () =>
  buildNet(
    { kind: 'mlp', hidden: [16], inputDropout: 0.1, hiddenDropout: 0.2 },
    { inputShape: [8, 8], numClasses: 2, seed: 3 },
  );
const weights = (n: ReturnType<typeof net>) =>
  Object.entries(exportWeights(n))
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([, t]) => Array.from(t.data));

test('streaming: one window trains exactly as in memory, loading it once an epoch', async () => {
  const d = toy(200);
  const [a, b] = [net(), net()];
  const ha = await train(a, d, cfg);
  const { stream, loads } = streamed(d, 30, 100);
  const hb = await train(b, { side: d.side, indices: d.indices, stream }, cfg);
  assert.deepEqual(weights(b), weights(a), 'same weights, bit for bit');
  assert.deepEqual(
    hb.map((h) => h.loss),
    ha.map((h) => h.loss),
  );
  assert.equal(loads.length, 3, 'one load per epoch');
  [a, b].forEach((n) => n.dispose());
});

test('streaming: a run resumed from a mid-epoch window checkpoint ends as the uninterrupted run', async () => {
  const d = toy(200);
  const whole = net();
  const { stream } = streamed(d, 30, 2);
  const full = await train(whole, { side: d.side, indices: d.indices, stream }, cfg);
  let taken: TrainSnapshot | undefined;
  const first = net();
  const stop = new Error('stop');
  await assert.rejects(
    train(first, { side: d.side, indices: d.indices, stream }, cfg, {
      onWindowEnd: async (at, snapshot) => {
        if (at.epoch === 2 && at.window === 2) {
          taken = snapshot();
          throw stop;
        }
      },
    }),
    (err) => err === stop,
  );
  assert.equal(taken?.epoch, 1);
  assert.equal(taken?.position?.window, 2);
  const resumed = net();
  const { stream: again, loads } = streamed(d, 30, 2);
  const rest = await train(resumed, { side: d.side, indices: d.indices, stream: again }, cfg, {}, taken);
  assert.deepEqual(weights(resumed), weights(whole), 'same weights as never interrupted');
  const untimed = (h: typeof full) => h.map(({ seconds: _s, ...e }) => e);
  assert.deepEqual(untimed(rest), untimed(full), 'same history, the interrupted epoch included');
  const perEpoch = Math.ceil(Math.ceil(200 / 30) / 2); // 7 shards, 2 a window
  assert.equal(loads.length, 2 * perEpoch - 2, 'the rest of epoch 2, then epoch 3: nothing before the resume point');
  [whole, first, resumed].forEach((n) => n.dispose());
});

test('shard store: written once, read back byte for byte, rows read from only their shards', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-shards-'));
  const store = new LocalArtifactStore(path.join(dir, 'store'));
  const t = toy(95);
  const ds: Dataset = {
    name: 'toy',
    digest: 'a'.repeat(64),
    classNames: ['l', 'r'],
    numClasses: 2,
    rows: 8,
    cols: 8,
    channels: 1,
    shape: [8, 8],
    train: { images: t.images, labels: t.labels, n: 95 },
    test: { images: t.images.slice(0, 640), labels: t.labels.slice(0, 10), n: 10 },
  };
  const ref = await writeShards(store, ds, 20);
  const m = await readManifest(store, ref);
  assert.deepEqual(
    m.splits.train.shards.map((s) => s.key),
    [0, 1, 2, 3, 4].map((i) => keys.shard(ds.digest, 20, 'train', i)),
  );
  assert.deepEqual(await writeShards(store, ds, 20), ref, 'a stored manifest is reused');
  const back = await datasetFromShards(store, ref);
  assert.deepEqual(Buffer.from(back.train.images), Buffer.from(ds.train.images));
  assert.deepEqual(back.test.labels, ds.test.labels);
  assert.equal(back.digest, ds.digest);
  const rows = Int32Array.from([3, 41, 42, 94]);
  const got = await splitRows(store, m, 'train', rows);
  for (const [i, r] of rows.entries())
    assert.deepEqual(got.images.subarray(i * 64, (i + 1) * 64), ds.train.images.subarray(r * 64, (r + 1) * 64));
  // A corrupted shard is refused by the sha256 the manifest pins.
  const key = keys.shard(ds.digest, 20, 'train', 2);
  const bytes = await store.get(key);
  bytes[bytes.length - 1] = bytes.at(-1)! ^ 1;
  await store.put(key, bytes);
  await assert.rejects(splitRows(store, m, 'train', rows), /sha256|corrupt/i);
});

/** The weights' sha256 of a published model. */
async function weightsSha(store: LocalArtifactStore, ref: { weights: { key: string } }) {
  return createHash('sha256')
    .update(await store.get(ref.weights.key))
    .digest('hex');
}

test('compute activities on a sharded plan: same teacher, soft-target blocks and errors as unsharded', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-sharded-'));
  const store = new LocalArtifactStore(path.join(dir, 'store'));
  const compute = createComputeActivities({ store, logger: quiet, backend, dataRoots: [dir] });
  const base = { dataset: 'mnist' as const, validationSize: 100, trainLimit: 1500 };
  const prepare = (shards?: { size: number; window?: number }) =>
    compute.prepareData({
      data: { ...base, ...(shards ? { shards } : {}) },
      transfer: { kind: 'fraction', fraction: 0.5 },
      seed: 3,
    });
  const plain = await prepare();
  const sharded = await prepare({ size: 7000 });
  assert.equal(sharded.shards?.size, 7000);
  assert.equal(sharded.planDigest, plain.planDigest, 'sharding is not part of the data plan');
  const teach = (data: typeof plain) =>
    compute.trainModel({
      name: 't',
      role: 'teacher',
      data,
      split: 'train',
      spec: { kind: 'mlp', hidden: [24] },
      train: trainSpecSchema.parse({ epochs: 2, batchSize: 64, jitter: 1 }),
      seed: 4,
    });
  const [t1, t2] = [await teach(plain), await teach(sharded)];
  assert.notEqual(t2.model.digest, t1.model.digest, 'the stream layout is part of the model digest');
  assert.equal(await weightsSha(store, t2.model), await weightsSha(store, t1.model), 'one window: same weights');
  const evaluate = async (data: typeof plain, model: typeof t1.model) =>
    compute.evaluateModel({ name: 't', data, model });
  const [e1, e2] = [await evaluate(plain, t1.model), await evaluate(sharded, t2.model)];
  assert.deepEqual([e2.errors, e2.validation], [e1.errors, e1.validation]);

  const block = async (data: typeof plain, key: string) => {
    const teacher = membersOf<ModelRef, ImportedTeacherRef>({ teachers: [t1.model] })[0]!;
    const job = blockJob(1, data.counts.transfer, 200);
    const done = await compute.teacherLogitsBlock({ key, data, teacher, ...job });
    return store.get(done.key);
  };
  assert.deepEqual(Buffer.from(await block(sharded, 'b2')), Buffer.from(await block(plain, 'b1')), 'block logits');
  // With views a block's rows start mid-example (200 / 3): the sharded block reads its examples, shifts them alike.
  const viewsOf = (shards?: { size: number }) =>
    compute.prepareData({
      data: { ...base, ...(shards ? { shards } : {}) },
      transfer: { kind: 'fraction', fraction: 0.5, views: 3 },
      seed: 3,
    });
  const [v1, v2] = [await viewsOf(), await viewsOf({ size: 700 })];
  assert.deepEqual(Buffer.from(await block(v2, 'v2')), Buffer.from(await block(v1, 'v1')), 'view block logits');

  // Small windows: another order, so other weights, and the run still learns.
  const windowed = await prepare({ size: 300, window: 2 });
  const t3 = await teach(windowed);
  assert.notEqual(await weightsSha(store, t3.model), await weightsSha(store, t1.model));
  const e3 = await evaluate(windowed, t3.model);
  assert.ok(Math.abs(e3.errors - e1.errors) < 0.05 * e1.n, `${e3.errors} vs ${e1.errors} errors`);
});

test('data.shards: bounds named, and specialists refuse a window (they train in memory)', () => {
  const base = distillationConfigSchema.parse({
    data: { dataset: 'mnist' },
    teachers: { count: 1, model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    student: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    students: [{ temperature: 2, alpha: 0.5 }],
  });
  const bad = distillationConfigSchema.safeParse({ ...base, data: { ...base.data, shards: { window: 0 } } });
  assert.equal(bad.error?.issues[0]?.path.join('.'), 'data.shards.window');
  assert.equal(bad.error?.issues[0]?.message, 'at least 1 shard');
  const good = distillationConfigSchema.parse({ ...base, data: { ...base.data, shards: {} } });
  assert.deepEqual(good.data.shards, { size: 10_000 });
  const spec = specialistsConfigSchema.safeParse({
    data: { dataset: 'mnist', shards: { window: 2 } },
    generalist: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    clustering: { specialists: 2 },
    specialist: { train: { epochs: 1 } },
  });
  assert.ok(
    spec.error?.issues.some((i) => i.path.join('.') === 'data.shards.window' && /train in memory/.test(i.message)),
    JSON.stringify(spec.error?.issues),
  );
});
