/**
 * Fan-out teacher inference on the real stack: the soft targets of a run cut into 4 blocks per teacher (each a
 * compute activity, in a child workflow) are byte-identical to one block per teacher, the students learn the
 * same, and a compute worker killed with -9 in the middle of the fan-out loses only the block in flight: the
 * first worker holds one block (test fault injection, CHRYSALIS_FAULT_HOLD_BLOCKS) while it stores all the
 * others, is killed then, and a second worker computes just the held block.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
const HELD = 'teacher logits block held';
// Member 0's third block of four: mid-way through the fan-out, with blocks before and after it.
const HOLD = { member: 0, block: 2 };

test('fan-out: 4 blocks per teacher store the soft targets of 1; kill -9 loses only the block in flight', async (t) => {
  // The first compute worker holds one block once it starts it, and has a second slot for everything else.
  const s = await withStack(t, 'fanout', { startCompute: false });
  const killed = s.workers.compute;
  const fresh = `${s.workers.compute}-2`;
  await s.startCompute(killed, {
    CHRYSALIS_FAULT_HOLD_BLOCKS: `${HOLD.member}-${HOLD.block}`,
    CHRYSALIS_COMPUTE_SLOTS: '2',
  });
  const input = (blockSize?: number) => ({
    preset: 'mnist-quick',
    overrides: { ...overrides, ...(blockSize ? { softTargets: { blockSize } } : {}) },
    options: { computeQueue: s.queues.compute, heartbeatTimeoutSeconds: 10 },
  });
  // One block per teacher: no block 2, so the hold does not apply.
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
  const all = [0, 1].flatMap((m) => [0, 1, 2, 3].map((b) => `${dir}/blocks/${m}-${b}.cht`));
  const held = `${dir}/blocks/${HOLD.member}-${HOLD.block}.cht`;
  const others = all.filter((k) => k !== held);
  const split = await s.start('distillationPipeline', 'fanout-split', input(blockSize));
  // kill -9 once the held block is in flight (its activity started) and every other block is stored.
  await s.logMatching(killed, new RegExp(`${HELD}.*"key":"${held}"|"key":"${held}".*${HELD}`), 300_000);
  const deadline = Date.now() + 300_000;
  let atKill = await s.store.list(`${dir}/blocks/`);
  while (atKill.length < others.length) {
    if (Date.now() > deadline) throw new Error(`blocks stored within 5 minutes: ${atKill.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
    atKill = await s.store.list(`${dir}/blocks/`);
  }
  await s.stack.stop(killed, 'SIGKILL');
  assert.deepEqual(atKill.sort(), others.sort(), 'stored at the kill: every block but the held one');
  await s.startCompute(fresh);
  const second = (await split.result()) as DistillationSummary;

  assert.equal(second.softTargets.key, first.softTargets.key, 'the block size is not part of the cache key');
  assert.equal(second.softTargets.cacheHit, false);
  const m2 = await getJson<{ n: number; logits: { sha256: string } }>(s.store, `${dir}/manifest.json`);
  assert.equal(m2.logits.sha256, m1.logits.sha256, 'soft-target object sha256');
  assert.deepEqual((await s.store.list(`${dir}/blocks/`)).sort(), all.sort());
  assert.deepEqual(
    second.models.map((m) => [m.name, m.errors]),
    first.models.map((m) => [m.name, m.errors]),
  );
  // The whole run stored blocks 0-0 and 1-0 under the same keys, of m1.n examples each: count this run's only.
  const storedLines = (log: string, key: string) =>
    log.split('\n').filter((line) => {
      if (!line.startsWith('{')) return false;
      const l = JSON.parse(line) as { msg?: string; key?: string; count?: number };
      return l.msg === STORED && l.key === key && l.count !== undefined && l.count <= blockSize;
    }).length;
  // stop() flushed the killed worker's log; the fresh one's may lag its activity by a moment.
  const killedLog = readFileSync(s.stack.logFile(killed), 'utf8');
  const freshLog = await s.logMatching(fresh, new RegExp(`${STORED}.*"key":"${held}"|"key":"${held}".*${STORED}`));
  for (const key of others) {
    assert.equal(storedLines(killedLog, key), 1, `${key}, stored before the kill, computed once by the first worker`);
    assert.equal(storedLines(freshLog, key), 0, `${key}, stored before the kill, not computed again`);
  }
  assert.equal(storedLines(killedLog, held), 0, `${held} was held on the first worker`);
  assert.equal(storedLines(freshLog, held), 1, `${held} was computed once, on the second worker`);
});
