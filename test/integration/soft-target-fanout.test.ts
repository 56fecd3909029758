/**
 * Fan-out teacher inference on the real stack: the soft targets of a run cut into 4 blocks per teacher (each a
 * compute activity, in a child workflow) are byte-identical to one block per teacher, the students learn the
 * same, and a compute worker killed with -9 during the fan-out loses no block already stored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getJson } from '../../storage/artifact-store';
import type { DistillationSummary } from '../../workflows';
import { scheduledActivities, withStack } from '../helpers/stack';

// Fresh teachers every time the test runs: a cached soft target would skip the fan-out under test.
const seed = 10_000 + (Date.now() % 100_000);
const overrides = {
  seed,
  data: { dataset: 'mnist', validationSize: 500, trainLimit: 2000 },
  teachers: { count: 2, model: { kind: 'mlp', hidden: [32] }, train: { epochs: 1 } },
  transfer: { kind: 'fraction', fraction: 0.5 },
  student: { model: { kind: 'mlp', hidden: [16] }, train: { epochs: 1 } },
  students: [{ temperature: 4, alpha: 0.9 }],
};

const STORED = 'teacher logits block stored';

test('fan-out: 4 blocks per teacher store the same soft targets as 1; a kill -9 loses no stored block', async (t) => {
  const s = await withStack(t, 'fanout');
  const input = (blockSize?: number) => ({
    preset: 'mnist-quick',
    overrides: { ...overrides, ...(blockSize ? { softTargets: { blockSize } } : {}) },
    options: { computeQueue: s.queues.compute, heartbeatTimeoutSeconds: 10 },
  });
  const whole = await s.start('distillationPipeline', 'fanout-whole', input());
  const first = (await whole.result()) as DistillationSummary;
  assert.equal(first.softTargets.cacheHit, false);
  const dir = `soft-targets/${first.softTargets.key}`;
  const m1 = await getJson<{ n: number; logits: { sha256: string } }>(s.store, `${dir}/manifest.json`);
  const acts = await scheduledActivities(s.client, whole.workflowId);
  assert.equal(acts.filter((a) => a === 'assembleSoftTargets').length, 1);
  assert.ok(!acts.includes('computeSoftTargets') && !acts.includes('teacherLogitsBlock'), acts.join(', '));
  assert.deepEqual((await s.store.list(`${dir}/blocks/`)).sort(), [`${dir}/blocks/0-0.cht`, `${dir}/blocks/1-0.cht`]);

  // Same teachers (reused by digest), soft targets computed again, in 4 blocks each.
  for (const key of await s.store.list(`${dir}/`)) await s.store.delete(key);
  const blockSize = Math.ceil(m1.n / 4);
  const split = await s.start('distillationPipeline', 'fanout-split', input(blockSize));
  // kill -9 as soon as a first block is stored: those stored by then must not be computed again.
  let atKill: string[] = [];
  const deadline = Date.now() + 300_000;
  while (atKill.length === 0) {
    if (Date.now() > deadline) throw new Error('no teacher logits block stored within 5 minutes');
    await new Promise((r) => setTimeout(r, 50));
    atKill = await s.store.list(`${dir}/blocks/`);
  }
  await s.stack.stop(s.workers.compute, 'SIGKILL');
  await s.startCompute(`${s.workers.compute}-2`);
  const second = (await split.result()) as DistillationSummary;

  assert.equal(second.softTargets.key, first.softTargets.key, 'the block size is not part of the cache key');
  assert.equal(second.softTargets.cacheHit, false);
  const m2 = await getJson<{ n: number; logits: { sha256: string } }>(s.store, `${dir}/manifest.json`);
  assert.equal(m2.logits.sha256, m1.logits.sha256, 'soft-target object sha256');
  assert.equal((await s.store.list(`${dir}/blocks/`)).length, 8);
  assert.deepEqual(
    second.models.map((m) => [m.name, m.errors]),
    first.models.map((m) => [m.name, m.errors]),
  );
  const logs = s.logs();
  for (const key of atKill) {
    const stored = logs.split('\n').filter((l) => l.includes(STORED) && l.includes(`"key":"${key}"`));
    assert.equal(stored.length, 1, `${key}, stored before the kill, was computed once: ${stored.length}`);
  }
});
