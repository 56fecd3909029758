/**
 * Consistent augmented views on the real stack (`transfer.views: 3`): the run completes, its soft targets hold
 * one row per (transfer example, view), each student trains on all of them, and a later run with another student
 * finds them in the cache (no teacher trains or runs again).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getJson } from '../../storage/artifact-store';
import type { DistillationSummary } from '../../workflows';
import { scheduledActivities, withStack } from '../helpers/stack';

// Fresh teachers every time the test runs: a cached soft target from an earlier run would skip what is tested.
const seed = 20_000 + (Date.now() % 100_000);
const overrides = {
  seed,
  data: { dataset: 'mnist', validationSize: 500, trainLimit: 2000 },
  teachers: { count: 2, model: { kind: 'mlp', hidden: [32] }, train: { epochs: 1 } },
  transfer: { kind: 'fraction', fraction: 0.5, views: 3 },
  student: { model: { kind: 'mlp', hidden: [16] }, train: { epochs: 1 } },
  students: [{ temperature: 4, alpha: 0.9 }],
};

interface Manifest {
  n: number;
  members: number;
  provenance: { views?: { count: number; jitter: number; rule: string } };
}

test('views 3: soft targets of n*3 rows, students train on every row, a second run reuses them', async (t) => {
  const s = await withStack(t, 'views');
  const input = (students: unknown[]) => ({
    preset: 'mnist-quick',
    overrides: { ...overrides, students },
    options: { computeQueue: s.queues.compute },
  });
  const run = await s.start('distillationPipeline', 'views-first', input(overrides.students));
  const first = (await run.result()) as DistillationSummary;
  assert.equal(first.softTargets.cacheHit, false);
  const manifest = await getJson<Manifest>(s.store, `soft-targets/${first.softTargets.key}/manifest.json`);
  // trainLimit 2000 and fraction 0.5: 1000 transfer examples, 3 views each.
  assert.equal(manifest.n, 3 * 1000);
  assert.equal(manifest.members, 2);
  assert.equal(manifest.provenance.views?.count, 3);
  assert.equal(manifest.provenance.views?.jitter, 2, 'the default shift bound');
  const student = first.models.find((m) => m.role === 'student')!;
  // Every distinct count logged for the model (the stack's log may hold a line more than once).
  const trained = (name: string) =>
    s
      .logs()
      .split('\n')
      .filter((l) => l.includes(`"msg":"training ${name}"`) && l.includes(run.workflowId))
      .map((l) => (JSON.parse(l) as { examples: number }).examples)
      .filter((n, i, all) => all.indexOf(n) === i);
  assert.deepEqual(trained('student-T4-a0.9'), [3000], 'the student trains on every (example, view) row');
  assert.deepEqual(trained('baseline-hard'), [1000], 'the hard-label baseline on the examples as they are');
  // One epoch of tiny nets on 2000 digits learns little; better than chance (9000 errors) is what is asked.
  assert.ok(student.errors < 8500, `the student learned something: ${student.errors} test errors`);

  // Another student of the same teachers and views: the soft targets come from the cache.
  const again = await s.start('distillationPipeline', 'views-second', input([{ temperature: 2, alpha: 0.5 }]));
  const second = (await again.result()) as DistillationSummary;
  assert.equal(second.softTargets.key, first.softTargets.key);
  assert.equal(second.softTargets.cacheHit, true);
  const acts = await scheduledActivities(s.client, again.workflowId);
  assert.ok(!acts.includes('teacherLogitsBlock') && !acts.includes('assembleSoftTargets'), acts.join(', '));
  assert.equal(acts.filter((a) => a === 'trainModel').length, 2, 'the new student and the baseline only');
  const other = second.models.find((m) => m.role === 'student')!;
  assert.notEqual(other.manifestKey, student.manifestKey);
});
