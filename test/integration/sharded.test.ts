/**
 * Sharded data and streaming training on the real stack: a run over shards trains the very weights of the unsharded
 * run (one window), and a compute worker killed with -9 inside a streaming epoch resumes at the window it had
 * checkpointed, ending with the weights of a run never interrupted; and a distillation over shards stores its soft
 * targets in parts, which its student streams, and trains every model of the unsharded run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keys } from '../../common/store-keys';
import { getJson } from '../../storage/artifact-store';
import type { DistillationSummary, SmokeSummary } from '../../workflows';
import { withStack } from '../helpers/stack';

/** A smoke run of 12 000 MNIST examples, sharded as given; `seed` keeps earlier runs' models from being reused. */
function smoke(computeQueue: string, seed: number, shards?: { size: number; window?: number }, epochs = 2) {
  return {
    preset: 'smoke',
    overrides: {
      seed,
      data: { dataset: 'mnist', validationSize: 1000, trainLimit: 12000, ...(shards ? { shards } : {}) },
      model: { kind: 'mlp', hidden: [128] },
      train: { epochs, batchSize: 64, jitter: 1 },
    },
    options: { computeQueue, heartbeatTimeoutSeconds: 5 },
  };
}

const seed = 20_000 + (Date.now() % 100_000);

test('sharded: one window trains the unsharded weights; the shards are stored once', async (t) => {
  const s = await withStack(t, 'sharded');
  const plain = (await (
    await s.start('smokePipeline', 'plain', smoke(s.queues.compute, seed))
  ).result()) as SmokeSummary;
  const input = smoke(s.queues.compute, seed, { size: 4000 });
  const sharded = (await (await s.start('smokePipeline', 'sharded', input)).result()) as SmokeSummary;
  assert.notEqual(sharded.manifestKey, plain.manifestKey, 'a model of its own, not the cached unsharded one');
  assert.equal(sharded.weightsSha256, plain.weightsSha256, 'same weights, bit for bit');
  assert.equal(sharded.errors, plain.errors);
  const shardKeys = (await s.store.list('datasets/')).filter((k) => k.includes('/shards-4000/'));
  // 60 000 MNIST training images in shards of 4 000, 10 000 test images in 3, and the manifest.
  assert.equal(shardKeys.filter((k) => /\/train-\d+\.cht$/.test(k)).length, 15);
  assert.equal(shardKeys.filter((k) => /\/test-\d+\.cht$/.test(k)).length, 3);
  assert.equal(shardKeys.filter((k) => k.endsWith('/manifest.json')).length, 1);
});

test('streaming: a kill -9 mid-epoch resumes at the checkpointed window, with the uninterrupted weights', async (t) => {
  const s = await withStack(t, 'stream');
  const layout = { size: 500, window: 2 }; // 24 shards of the 12 000 examples: 12 windows an epoch
  const whole = (await (
    await s.start('smokePipeline', 'stream-whole', smoke(s.queues.compute, seed + 1, layout, 3))
  ).result()) as SmokeSummary;
  // The same recipe again, trained anew: drop the published model so the digest is not a cache hit.
  const modelDir = whole.manifestKey.replace(/\/manifest\.json$/, '');
  for (const k of await s.store.list(`${modelDir}/`)) await s.store.delete(k);
  const digest = modelDir.split('/').at(-1)!;

  const handle = await s.start('smokePipeline', 'stream-kill', smoke(s.queues.compute, seed + 1, layout, 3));
  const worker = s.stack.processes.get(s.workers.compute)!;
  // Freeze the worker once a mid-epoch checkpoint is stored, read the newest checkpoint while it cannot write, then
  // kill it; if it had just passed an epoch's end, let it run on to the next mid-epoch one.
  const deadline = Date.now() + 300_000;
  let newest: { epoch: number; window: number } | undefined;
  while (!newest || newest.window === 0) {
    if (Date.now() > deadline) throw new Error(`no mid-epoch checkpoint within 5 minutes: ${JSON.stringify(newest)}`);
    const listed = async () => (await s.store.list(`${keys.checkpointDir(digest)}/`)).at(-1);
    const seen = await listed();
    if (seen && (keys.checkpointPosition(seen)?.window ?? 0) > 0) {
      worker.kill('SIGSTOP');
      const at = await listed();
      newest = at === undefined ? undefined : keys.checkpointPosition(at);
      if (newest?.window === 0) worker.kill('SIGCONT');
    } else await new Promise((r) => setTimeout(r, 20));
  }
  await s.stack.stop(s.workers.compute, 'SIGKILL');
  await s.startCompute(`${s.workers.compute}-2`);
  const resumed = (await handle.result()) as SmokeSummary;

  const line = `resuming from checkpoint after epoch ${newest.epoch} and ${newest.window} windows of epoch`;
  await s.logMatching(`${s.workers.compute}-2`, new RegExp(line));
  assert.equal(resumed.resumedFromEpoch, newest.epoch);
  assert.equal(resumed.weightsSha256, whole.weightsSha256, 'the uninterrupted weights, bit for bit');
  assert.equal(resumed.errors, whole.errors);
});

test('sharded distillation: parted soft targets, streamed by the student, give the unsharded run bit for bit', async (t) => {
  const s = await withStack(t, 'sharded-distill');
  const input = (shards?: { size: number }) => ({
    preset: 'mnist-quick',
    overrides: {
      seed: seed + 2,
      data: { dataset: 'mnist', validationSize: 500, trainLimit: 2000, ...(shards ? { shards } : {}) },
      teachers: { count: 2, model: { kind: 'mlp', hidden: [32] }, train: { epochs: 1 } },
      transfer: { kind: 'fraction', fraction: 0.5 },
      student: { model: { kind: 'mlp', hidden: [16] }, train: { epochs: 2 } },
      students: [{ temperature: 4, alpha: 0.9 }],
      softTargets: { blockSize: 200 },
    },
    options: { computeQueue: s.queues.compute },
  });
  const plain = (await (
    await s.start('distillationPipeline', 'distill-plain', input())
  ).result()) as DistillationSummary;
  const run = await s.start('distillationPipeline', 'distill-sharded', input({ size: 300 }));
  const sharded = (await run.result()) as DistillationSummary;
  const dir = keys.softTargets(sharded.softTargets.key);
  const stored = await s.store.list(`${dir}/`);
  assert.ok(!stored.includes(`${dir}/logits.cht`), 'no one-file soft targets');
  const { n } = await getJson<{ n: number }>(s.store, `${dir}/manifest.json`);
  assert.ok(n > 400, `${n} transfer rows`);
  assert.equal(stored.filter((k) => k.startsWith(`${dir}/parts/`)).length, Math.ceil(n / 200), 'parts of 200 rows');
  const weights = async (summary: DistillationSummary) =>
    Promise.all(
      summary.models.map(async (m) => {
        const manifest = await getJson<{ weights: { sha256: string } }>(s.store, m.manifestKey);
        return [m.name, m.errors, manifest.weights.sha256];
      }),
    );
  assert.deepEqual(await weights(sharded), await weights(plain));
  assert.ok(
    sharded.models.every((m, i) => m.manifestKey !== plain.models[i]!.manifestKey),
    'models of their own, not the cached unsharded ones',
  );
});
