/**
 * Fan-out teacher inference below Temporal: the block plan, the bounded pool the workflows use, and the
 * (teacher, block) + assembly activities on a local store, whose object must be byte-identical to the one
 * computeSoftTargets writes in one activity, in every storage format.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { createComputeActivities } from '../../activities/compute';
import { softTargetPartsReader, wholeSoftTargets } from '../../artifacts/soft-target-parts';
import { blockJob, blockKey, blockRanges, boundedAll, membersOf } from '../../common/soft-target-blocks';
import { softTargetFormat } from '../../common/soft-target-format';
import type { SoftTargetFormat } from '../../common/soft-target-format';
import { keys } from '../../common/store-keys';
import { createLogger } from '../../config';
import { distillationConfigSchema, trainSpecSchema } from '../../config/schemas';
import { initBackend } from '../../ml';
import type { BackendInfo } from '../../ml/backend';
import { encodeNpy } from '../../ml/npy';
import { Rng } from '../../ml/rng';
import { ENSEMBLE_CHUNK_ROWS } from '../../ml/losses';
import { concatSoftTargets, softTargetRows } from '../../ml/soft-targets';
import type { StoredSoftTargets } from '../../ml/soft-targets';
import { LocalArtifactStore } from '../../storage';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

const quiet = createLogger({ name: 'test', level: 'silent' });

test('blocks: n divisible by the block size, not divisible, smaller than one block, and empty', () => {
  assert.deepEqual(blockRanges(6, 3), [
    { block: 0, start: 0, count: 3 },
    { block: 1, start: 3, count: 3 },
  ]);
  assert.deepEqual(blockRanges(7, 3), [
    { block: 0, start: 0, count: 3 },
    { block: 1, start: 3, count: 3 },
    { block: 2, start: 6, count: 1 },
  ]);
  assert.deepEqual(blockRanges(2, 10), [{ block: 0, start: 0, count: 2 }]);
  assert.deepEqual(blockRanges(0, 10), []);
  assert.throws(() => blockRanges(5, 0), /block size 0: expected >= 1/);
  // Jobs run member-major: every block of member 0, then of member 1.
  const jobs = Array.from({ length: 6 }, (_, j) => blockJob(j, 7, 3));
  assert.deepEqual(
    jobs.map((j) => [j.member, j.block, j.start, j.count]),
    [
      [0, 0, 0, 3],
      [0, 1, 3, 3],
      [0, 2, 6, 1],
      [1, 0, 0, 3],
      [1, 1, 3, 3],
      [1, 2, 6, 1],
    ],
  );
  assert.equal(blockKey('soft-targets/k', 1, 2), 'soft-targets/k/blocks/1-2.cht');
});

test('boundedAll keeps at most `limit` running and returns results in order', async () => {
  let running = 0;
  let most = 0;
  const out = await boundedAll(20, 3, async (i) => {
    running++;
    most = Math.max(most, running);
    // Uneven durations, so slots finish out of order.
    await new Promise((r) => setImmediate(r));
    if (i % 2 === 0) await new Promise((r) => setImmediate(r));
    running--;
    return i * 2;
  });
  assert.deepEqual(
    out,
    Array.from({ length: 20 }, (_, i) => i * 2),
  );
  assert.equal(most, 3);
  assert.deepEqual(await boundedAll(0, 3, () => Promise.resolve(1)), []);
});

test('config: softTargets.blockSize is optional, a positive whole number, and not part of the format', () => {
  const base = {
    data: { dataset: 'mnist' },
    teachers: { count: 1, model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    student: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    students: [{ temperature: 2, alpha: 0.5 }],
  };
  const parsed = distillationConfigSchema.parse({ ...base, softTargets: { blockSize: 500 } });
  assert.deepEqual(parsed.softTargets, { precision: 'float32', blockSize: 500 });
  assert.equal(softTargetFormat(parsed), undefined, 'a block size alone keeps the default format and cache key');
  const bad = distillationConfigSchema.safeParse({ ...base, softTargets: { blockSize: 0 } });
  assert.equal(bad.success, false);
  assert.equal(bad.error?.issues[0]?.path.join('.'), 'softTargets.blockSize');
  assert.equal(bad.error?.issues[0]?.message, 'at least 1 example');
});

/** A local store with a data plan, one teacher trained here and one imported from a .npy file. */
async function setup(trainLimit = 2000) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-fanout-'));
  const store = new LocalArtifactStore(path.join(dir, 'store'));
  const compute = createComputeActivities({ store, logger: quiet, backend, dataRoots: [dir] });
  const data = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 100, trainLimit },
    transfer: { kind: 'fraction', fraction: 0.5 },
    seed: 3,
  });
  const trained = await compute.trainModel({
    name: 't',
    role: 'teacher',
    data,
    split: 'train',
    spec: { kind: 'mlp', hidden: [24] },
    train: trainSpecSchema.parse({ epochs: 1, batchSize: 64 }),
    seed: 4,
  });
  const n = data.counts.transfer;
  const rng = new Rng(7);
  const npy = Float32Array.from({ length: n * 10 }, () => (rng.next() - 0.5) * 12);
  writeFileSync(path.join(dir, 't.npy'), encodeNpy([n, 10], npy));
  const { teachers: imported } = await compute.importTeachers({
    imports: [{ kind: 'npy', path: path.join(dir, 't.npy'), outputs: 'logits' }],
    data,
  });
  return { store, compute, data, teachers: [trained.model], imported, trainLimit };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** What the fan-out workflow does, without Temporal: every (member, block) job, then the assembly. */
async function fanOut(s: Setup, key: string, blockSize: number, format?: SoftTargetFormat) {
  const req = { key, data: s.data, teachers: s.teachers, imported: s.imported, ...(format ? { format } : {}) };
  const members = membersOf(req);
  const jobs = members.length * Math.ceil(s.data.counts.transfer / blockSize);
  const done = await boundedAll(jobs, 3, (j) => {
    const job = blockJob(j, s.data.counts.transfer, blockSize);
    return s.compute.teacherLogitsBlock({ key, data: s.data, teacher: members[job.member]!, ...job });
  });
  const soft = await s.compute.assembleSoftTargets({ ...req, blockSize, inferenceSeconds: 0 });
  return { soft, done };
}

test('fan-out: the assembled soft targets are byte-identical to one activity, in each format', async () => {
  const s = await setup();
  const n = s.data.counts.transfer;
  assert.ok(n > 900 && n % 300 !== 0, `n = ${n}: not divisible by the block size`);
  const formats: (SoftTargetFormat | undefined)[] = [
    undefined,
    { precision: 'float16' },
    { precision: 'float16', topK: 3, ensemble: 'arithmetic' },
  ];
  for (const format of formats) {
    const key = `k-${format?.precision ?? 'f32'}-${format?.topK ?? 'all'}`;
    const one = await s.compute.computeSoftTargets({
      key,
      data: s.data,
      teachers: s.teachers,
      imported: s.imported,
      ...(format ? { format } : {}),
    });
    const [logits, manifest] = [await s.store.get(one.logits), await s.store.get(one.manifest)];
    const { soft, done } = await fanOut(s, key, 300, format);
    assert.equal(done.length, 2 * Math.ceil(n / 300));
    assert.deepEqual(Buffer.from(await s.store.get(soft.logits)), Buffer.from(logits), `${key}: logits.cht`);
    assert.deepEqual(Buffer.from(await s.store.get(soft.manifest)), Buffer.from(manifest), `${key}: manifest`);
    assert.deepEqual({ ...soft, inferenceSeconds: 0 }, { ...one, inferenceSeconds: 0 });
  }
});

test('fan-out: a stored block is skipped, a partly written one is computed again', async () => {
  const s = await setup();
  const first = await fanOut(s, 'skip', 400);
  assert.ok(first.done.every((d) => d.computed));
  const logits = await s.store.get(first.soft.logits);
  const victim = blockKey(keys.softTargets('skip'), 0, 1);
  const whole = await s.store.get(victim);
  await s.store.put(victim, whole.subarray(0, whole.length - 8));
  const again = await fanOut(s, 'skip', 400);
  assert.deepEqual(
    again.done.map((d) => d.computed),
    first.done.map((d) => d.key === victim),
    'only the damaged block is computed again',
  );
  assert.deepEqual(Buffer.from(await s.store.get(victim)), Buffer.from(whole));
  assert.deepEqual(Buffer.from(await s.store.get(again.soft.logits)), Buffer.from(logits));
});

/** The bytes of training soft targets (dense, or the kept classes and their probabilities). */
function bitsOf(t: StoredSoftTargets): Buffer[] {
  const raw = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return t instanceof Float32Array ? [raw(t)] : [raw(t.classes), raw(t.probs)];
}

/** The same plan over shards of 500 (`window` shards held at once when streamed). */
function sharded(s: Setup, window?: number) {
  const shards = { size: 500, ...(window ? { window } : {}) };
  return s.compute.prepareData({
    data: { dataset: 'mnist', validationSize: 100, trainLimit: s.trainLimit, shards },
    transfer: { kind: 'fraction', fraction: 0.5 },
    seed: 3,
  });
}

test('parts: sharded soft targets are stored a block per file and read back as the one file, bit for bit', async () => {
  // More transfer rows than one ensemble piece, so reads that cross a piece's edge are checked too.
  const s = await setup(2 * ENSEMBLE_CHUNK_ROWS + 1000);
  const n = s.data.counts.transfer;
  assert.ok(n > ENSEMBLE_CHUNK_ROWS, `n = ${n}`);
  const data = await sharded(s);
  assert.equal(data.planDigest, s.data.planDigest, 'sharding changes where examples are, not which');
  const C = 10;
  const formats: (SoftTargetFormat | undefined)[] = [
    undefined,
    { precision: 'float16', topK: 3, ensemble: 'arithmetic' },
  ];
  for (const format of formats) {
    const key = `parts-${format?.topK ?? 'all'}`;
    const req = { data: s.data, teachers: s.teachers, imported: s.imported, ...(format ? { format } : {}) };
    const one = await s.compute.computeSoftTargets({ ...req, key: `${key}-one` });
    const { soft } = await fanOut({ ...s, data }, key, 4000, format);
    assert.deepEqual(soft.parts && { rows: soft.parts.rows, count: soft.parts.count }, {
      rows: 4000,
      count: Math.ceil(n / 4000),
    });
    const parts = (await s.store.list(`${keys.softTargets(key)}/parts/`)).filter((k) => k.endsWith('.cht'));
    assert.equal(parts.length, soft.parts!.count);
    assert.equal(await s.store.stat(`${keys.softTargets(key)}/logits.cht`), undefined, 'no one-file copy');
    assert.deepEqual(
      { ...soft, key, logits: null, manifest: null, parts: null, inferenceSeconds: 0 },
      {
        ...one,
        key,
        logits: null,
        manifest: null,
        inferenceSeconds: 0,
        parts: null,
      },
    );
    for (const [T, rule] of [
      [1, 'arithmetic'],
      [4, 'geometric'],
    ] as const) {
      const whole = await wholeSoftTargets(s.store, one, T, rule);
      assert.deepEqual(bitsOf(await wholeSoftTargets(s.store, soft, T, rule)), bitsOf(whole), `${key} T=${T} whole`);
      const ranges = [
        [ENSEMBLE_CHUNK_ROWS - 700, ENSEMBLE_CHUNK_ROWS + 300],
        [0, 17],
        [3999, 4001],
        [n - 5, n],
        [9, 9],
      ] as const;
      const read = await (await softTargetPartsReader(s.store, soft, T, rule)).read(ranges);
      const expected = concatSoftTargets(ranges.map(([a, b]) => softTargetRows(whole, C, a, b)));
      assert.deepEqual(bitsOf(read), bitsOf(expected), `${key} T=${T} ranges`);
      await assert.rejects(
        (await softTargetPartsReader(s.store, soft, T, rule)).read([[n - 1, n + 1]]),
        new RegExp(`rows ${n - 1}..${n + 1} of ${n}`),
      );
    }
    // Assembled again at another block size (the manifest lost, the old parts still there): parts of the new size.
    await s.store.delete(`${keys.softTargets(key)}/manifest.json`);
    const again = (await fanOut({ ...s, data }, key, 3000, format)).soft;
    assert.equal(again.parts?.rows, 3000);
    const whole = await wholeSoftTargets(s.store, one, 2, 'arithmetic');
    assert.deepEqual(bitsOf(await wholeSoftTargets(s.store, again, 2, 'arithmetic')), bitsOf(whole), `${key} again`);
  }
});

test('parts: a student streaming parted soft targets trains the weights of one reading the one file', async () => {
  const s = await setup();
  const student = (data: Setup['data'], softTargets: Awaited<ReturnType<typeof fanOut>>['soft']) =>
    s.compute.trainModel({
      name: 'student',
      role: 'student',
      data,
      split: 'transfer',
      spec: { kind: 'mlp', hidden: [16] },
      train: trainSpecSchema.parse({ epochs: 2, batchSize: 64 }),
      seed: 5,
      distill: { softTargets, temperature: 3, alpha: 0.7, ensemble: 'arithmetic' },
    });
  const one = await s.compute.computeSoftTargets({ key: 'one', data: s.data, teachers: s.teachers });
  for (const window of [undefined, 2]) {
    const data = await sharded({ ...s, imported: [] }, window);
    const { soft } = await fanOut({ ...s, data, imported: [] }, `parts-w${window ?? 'all'}`, 300);
    assert.ok(soft.parts);
    // One window is the unsharded order; two windows of 500 are another order, the same for either file.
    const reference = await student(window ? data : s.data, one);
    const streamed = await student(data, soft);
    assert.notEqual(streamed.model.digest, reference.model.digest);
    assert.equal(streamed.model.weights.sha256, reference.model.weights.sha256, `window ${window ?? 'all'}`);
  }
});
