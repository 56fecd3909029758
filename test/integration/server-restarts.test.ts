/**
 * The servers chrysalis depends on go away mid-run and come back: Temporal (same SQLite file) and
 * MinIO (same data dir). Each test runs its own private servers so it can restart them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SmokeSummary } from '../../workflows';
import { progressQuery } from '../../workflows/progress';
import { testPortBase } from '../helpers/ports';
import { withStack } from '../helpers/stack';

const run = (computeQueue: string, epochs: number) => ({
  preset: 'smoke',
  overrides: {
    data: { dataset: 'mnist', validationSize: 1000, trainLimit: 12000 },
    model: { kind: 'mlp', hidden: [256, 256] },
    train: { epochs, batchSize: 64 },
  },
  options: { computeQueue, heartbeatTimeoutSeconds: 10 },
});

async function untilEpoch(query: () => Promise<{ models: { epoch: number }[] }>, epoch: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const p = await query().catch(() => undefined);
    if ((p?.models[0]?.epoch ?? 0) >= epoch) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`epoch ${epoch} not reached`);
}

test('Temporal dev server stopped and restarted mid-run: the run completes', async (t) => {
  const s = await withStack(t, 'temporal-restart', { ownServersOnPort: testPortBase('temporalRestart') });
  const handle = await s.start('smokePipeline', 'trestart', run(s.queues.compute, 8));
  await untilEpoch(() => handle.query(progressQuery), 2);
  await s.stack.stop('temporal');
  await new Promise((r) => setTimeout(r, 2_000));
  await s.stack.start('temporal');
  const summary = (await handle.result()) as SmokeSummary;
  assert.ok(summary.accuracy > 0.9);
  assert.equal((await handle.describe()).status.name, 'COMPLETED');
});

test('MinIO stopped during checkpoint uploads and restarted: retries succeed and every object verifies', async (t) => {
  const s = await withStack(t, 'minio-restart', { ownServersOnPort: testPortBase('minioRestart') });
  const handle = await s.start('smokePipeline', 'mrestart', run(s.queues.compute, 8));
  await untilEpoch(() => handle.query(progressQuery), 2);
  await s.stack.stop('minio');
  await new Promise((r) => setTimeout(r, 3_000)); // at least one checkpoint upload falls into this gap
  await s.stack.start('minio');
  const summary = (await handle.result()) as SmokeSummary;
  assert.ok(summary.accuracy > 0.9);
  // Every stored object still hashes to the digest recorded for it; get() verifies and throws otherwise.
  const keys = await s.store.list('');
  assert.ok(keys.some((k) => k.startsWith('models/')) && keys.some((k) => k.startsWith('data-plans/')));
  for (const k of keys) await s.store.get(k);
  const manifest = JSON.parse(new TextDecoder().decode(await s.store.get(summary.manifestKey))) as {
    weights: { key: string; sha256: string; bytes: number };
  };
  await s.store.get(manifest.weights);
});
