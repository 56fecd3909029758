/** Scheduled retraining through our CLI and through the Temporal CLI, on the real dev server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SmokeSummary } from '../../workflows';
import { withStack } from '../helpers/stack';

test('chrysalis schedule create, list, trigger, pause, delete', async (t) => {
  const s = await withStack(t, 'sched');
  const { cli } = s;
  const id = `nightly-${Date.now()}`;
  const created = cli(
    'schedule',
    'create',
    id,
    'smoke',
    '--every',
    '24h',
    '--preset',
    'smoke',
    '--set',
    'train.epochs=1',
  );
  assert.equal(created.code, 0, created.err);
  assert.match(created.out, /overlap SKIP/);
  assert.equal(cli('schedule', 'create', id, 'smoke', '--every', '24h').code, 2, 'duplicate id is a usage error');
  const listed = JSON.parse(cli('schedule', 'list', '--json').out) as {
    scheduleId: string;
    workflowType: string;
    paused: boolean;
  }[];
  assert.deepEqual(
    listed.find((x) => x.scheduleId === id),
    { ...listed.find((x) => x.scheduleId === id), workflowType: 'smokePipeline', paused: false },
  );
  assert.match(cli('schedule', 'list').out, new RegExp(id));
  // OPERATIONS.md's nightly distillation schedule, as written there.
  const nightly = `${id}-distill`;
  assert.equal(cli('schedule', 'create', nightly, 'distill', '--preset', 'mnist-quick', '--every', '24h').code, 0);
  const d = JSON.parse(cli('schedule', 'describe', nightly, '--json').out) as { workflowType: string; paused: boolean };
  assert.equal(d.workflowType, 'distillationPipeline');
  assert.equal(d.paused, false);
  assert.equal(cli('schedule', 'delete', nightly).code, 0);
  // Specialists retrain on a schedule the same way.
  const weekly = `${id}-specialists`;
  assert.equal(
    cli('schedule', 'create', weekly, 'specialists', '--preset', 'fashion-specialists', '--cron', '0 3 * * 0').code,
    0,
  );
  assert.equal(
    (JSON.parse(cli('schedule', 'describe', weekly, '--json').out) as { workflowType: string }).workflowType,
    'specialistsPipeline',
  );
  assert.equal(cli('schedule', 'delete', weekly).code, 0);

  assert.equal(cli('schedule', 'trigger', id).code, 0);
  let runId: string | undefined;
  for (let i = 0; i < 100 && !runId; i++) {
    runId =
      (JSON.parse(cli('schedule', 'describe', id, '--json').out) as { recentActions: (string | null)[] })
        .recentActions[0] ?? undefined;
    if (!runId) await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(runId?.startsWith(`${id}-run`), `scheduled run id ${runId}`);
  const summary = (await s.client.workflow.getHandle(runId!).result()) as SmokeSummary;
  assert.equal(summary.backend, 'tensorflow');

  assert.equal(cli('schedule', 'pause', id).code, 0);
  assert.equal((JSON.parse(cli('schedule', 'describe', id, '--json').out) as { paused: boolean }).paused, true);
  assert.equal(cli('schedule', 'delete', id).code, 0);
  assert.equal(cli('schedule', 'describe', id).code, 3, 'a deleted schedule is gone');
  assert.match(cli('schedule', 'create', `${id}-x`, 'smoke').err, /exactly one of --every/);
});

test('the Temporal CLI commands in docs/OPERATIONS.md create, pause and delete a distillation schedule', async (t) => {
  const s = await withStack(t, 'tsched', { startCompute: false });
  const temporal = (...args: string[]) => {
    const r = s.temporal(...args);
    return { code: r.code, out: r.out + r.err };
  };
  const id = `retrain-${Date.now()}`;
  const created = temporal(
    'schedule',
    'create',
    '--schedule-id',
    id,
    '--interval',
    '24h',
    '--overlap-policy',
    'Skip',
    '--workflow-id',
    `${id}-run`,
    '--task-queue',
    s.queues.pipeline,
    '--type',
    'distillationPipeline',
    '--input',
    '{"preset":"mnist-quick"}',
  );
  assert.equal(created.code, 0, created.out);
  const described = JSON.parse(temporal('schedule', 'describe', '--schedule-id', id, '-o', 'json').out) as {
    schedule: { policies: { overlapPolicy: string }; action: { startWorkflow: { workflowType: { name: string } } } };
  };
  assert.equal(described.schedule.action.startWorkflow.workflowType.name, 'distillationPipeline');
  assert.match(described.schedule.policies.overlapPolicy, /SKIP/);
  assert.equal(temporal('schedule', 'toggle', '--schedule-id', id, '--pause', '--reason', 'maintenance').code, 0);
  // A paused schedule still runs on an explicit trigger. No compute worker polls here, so the started
  // run is terminated once it exists.
  assert.equal(temporal('schedule', 'trigger', '--schedule-id', id).code, 0);
  let started: string | undefined;
  for (let i = 0; i < 100 && !started; i++) {
    const action = (await s.client.schedule.getHandle(id).describe()).info.recentActions[0]?.action;
    started = action?.type === 'startWorkflow' ? action.workflow.workflowId : undefined;
    if (!started) await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(started?.startsWith(`${id}-run`), `triggered run ${started}`);
  await s.client.workflow.getHandle(started!).terminate('test: no compute worker');
  assert.match(temporal('schedule', 'list').out, new RegExp(id));
  assert.equal(temporal('schedule', 'delete', '--schedule-id', id).code, 0);
});
