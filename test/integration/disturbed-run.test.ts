/**
 * The durability guarantee as a user would state it: a distillation run whose compute worker is
 * killed with -9 while a teacher trains, and whose MinIO is restarted while the students train,
 * finishes with every model's weights bit-identical (sha256) to the same config run undisturbed on a
 * separate store. Training is deterministic per (seed, epoch) and resumes from stored checkpoints.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DistillationSummary } from '../../workflows';
import { progressQuery } from '../../workflows/progress';
import type { Progress } from '../../workflows/progress';
import { testPortBase } from '../helpers/ports';
import { withStack } from '../helpers/stack';
import type { TestStack } from '../helpers/stack';

/** Small enough for two runs side by side on 2 cores, long enough (6 teacher epochs) to interrupt. */
function config(computeQueue: string) {
  return {
    preset: 'mnist-quick',
    overrides: {
      seed: 4711,
      data: { validationSize: 1000, trainLimit: 6000 },
      teachers: { count: 1, model: { hidden: [256, 256] }, train: { epochs: 6, batchSize: 64 } },
      student: { model: { hidden: [64] }, train: { epochs: 4, batchSize: 64 } },
      transfer: { kind: 'full' },
    },
    options: { computeQueue, heartbeatTimeoutSeconds: 10 },
  };
}

async function until(what: string, query: () => Promise<Progress>, ok: (p: Progress) => boolean): Promise<Progress> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const p = await query().catch(() => undefined);
    if (p && ok(p)) return p;
    if (Date.now() > deadline) throw new Error(`${what} not reached: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** sha256 of each model's weights, by model name, read from the run's manifests. */
async function weightDigests(s: TestStack, summary: DistillationSummary): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const m of summary.models) {
    const manifest = JSON.parse(new TextDecoder().decode(await s.store.get(m.manifestKey))) as {
      weights: { sha256: string };
    };
    out[m.name] = manifest.weights.sha256;
  }
  return out;
}

test('kill -9 while a teacher trains, MinIO restarted while students train: weights equal the calm run', async (t) => {
  const calm = await withStack(t, 'calm');
  const rough = await withStack(t, 'rough', { ownServersOnPort: testPortBase('disturbed'), startCompute: false });
  // The first rough worker holds the teacher at the end of epoch 3 (after epoch 2's checkpoint), where it is killed.
  await rough.startCompute(undefined, { CHRYSALIS_FAULT_HOLD_EPOCH: '3' });
  const id = `disturbed-${Date.now()}`;
  const calmRun = calm.client.workflow.execute('distillationPipeline', {
    taskQueue: calm.queues.pipeline,
    workflowId: `${id}-calm`,
    args: [config(calm.queues.compute)],
  }) as Promise<DistillationSummary>;
  const handle = await rough.client.workflow.start('distillationPipeline', {
    taskQueue: rough.queues.pipeline,
    workflowId: `${id}-rough`,
    args: [config(rough.queues.compute)],
  });
  const query = () => handle.query(progressQuery);

  // kill -9 once the teacher has a stored checkpoint and is still training.
  await until(
    'teacher checkpoint 2',
    query,
    (p) => (p.models.find((m) => m.name === 'teacher-1')?.checkpointEpoch ?? 0) >= 2,
  );
  await rough.logMatching(rough.workers.compute, /"model":"teacher-1".*"epoch":3,.*"msg":"training held/, 300_000);
  await rough.stack.stop(rough.workers.compute, 'SIGKILL');
  await rough.startCompute(`${rough.workers.compute}-2`);
  // MinIO down and up again while the students train.
  await until('students training', query, (p) => p.models.some((m) => m.role !== 'teacher' && m.epoch >= 1));
  await rough.stack.stop('minio');
  await rough.stack.start('minio');

  const [calmSummary, roughSummary] = [await calmRun, (await handle.result()) as DistillationSummary];
  const report = JSON.parse(new TextDecoder().decode(await rough.store.get(roughSummary.report.json))) as {
    models: { name: string; training?: { resumedFromEpoch: number } }[];
  };
  const teacher = report.models.find((m) => m.name === 'teacher-1');
  assert.equal(teacher?.training?.resumedFromEpoch, 2, `the teacher resumed: ${JSON.stringify(teacher)}`);
  const [calmWeights, roughWeights] = [
    await weightDigests(calm, calmSummary),
    await weightDigests(rough, roughSummary),
  ];
  assert.deepEqual(Object.keys(roughWeights).sort(), ['baseline-hard', 'student-T20-a0.9', 'teacher-1']);
  assert.deepEqual(roughWeights, calmWeights);
  assert.deepEqual(
    roughSummary.models.map((m) => [m.name, m.errors]),
    calmSummary.models.map((m) => [m.name, m.errors]),
  );
});

test('the dev stack restarts a compute worker killed with -9, and the restarted worker serves runs', async (t) => {
  const s = await withStack(t, 'supervised', { supervise: true });
  const first = s.stack.processes.get(s.workers.compute)!;
  process.kill(first.pid!, 'SIGKILL');
  const deadline = Date.now() + 120_000;
  while (!(s.stack.restarts.get(s.workers.compute) ?? 0) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  assert.equal(s.stack.restarts.get(s.workers.compute), 1, 'restarted once');
  const summary = (await s.client.workflow.execute('smokePipeline', {
    taskQueue: s.queues.pipeline,
    workflowId: `supervised-${Date.now()}`,
    // Its own seed: the smoke preset's model stays untrained for the foundation test.
    args: [{ preset: 'smoke', overrides: { seed: 977 }, options: { computeQueue: s.queues.compute } }],
  })) as { accuracy: number };
  assert.ok(summary.accuracy > 0.5);
  assert.notEqual(s.stack.processes.get(s.workers.compute), first);
  assert.match(s.logs(), /compute-worker exited \(SIGKILL\); restarting in 1 s/);
});
