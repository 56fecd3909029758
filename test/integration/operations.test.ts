/** The operator's surface: the Temporal CLI commands of docs/OPERATIONS.md and the chrysalis CLI end to end. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SmokeSummary } from '../../workflows';
import { withStack } from '../helpers/stack';

test('temporal workflow query progress, result, and reset of a finished run that reuses its artifacts', async (t) => {
  const s = await withStack(t, 'ops');
  const { temporal } = s;
  const id = `ops-${Date.now()}`;
  // A seed of its own: other tests share the store, and an identical recipe would be a cache hit.
  const input = JSON.stringify({ preset: 'smoke', overrides: { seed: Date.now() % 1_000_000_000 }, options: { computeQueue: s.queues.compute } });
  assert.equal(temporal('workflow', 'start', '--type', 'smokePipeline', '--task-queue', s.queues.pipeline, '--workflow-id', id, '--input', input).code, 0);
  const first = await s.client.workflow.getHandle(id).result() as SmokeSummary;
  assert.equal(first.epochsTrained, 2);
  const q = temporal('workflow', 'query', '--workflow-id', id, '--name', 'progress', '-o', 'json');
  assert.equal(q.code, 0, q.err);
  const progress = (JSON.parse(q.out) as { queryResult: { stages: unknown[]; models: { name: string; status: string; epoch: number; epochs: number }[] }[] }).queryResult[0]!;
  assert.deepEqual(progress.models.map((m) => [m.name, m.status, m.epoch, m.epochs]), [['smoke', 'done', 2, 2]]);

  const reset = temporal('workflow', 'reset', '--workflow-id', id, '--type', 'FirstWorkflowTask', '--reason', 'test reset', '--yes');
  assert.equal(reset.code, 0, reset.err + reset.out);
  const again = await s.client.workflow.getHandle(id).result() as SmokeSummary;
  assert.equal(again.manifestKey, first.manifestKey);
  assert.equal(again.epochsTrained, 0, 'the reset run found the published model and trained nothing');
});

test('chrysalis CLI: run with progress and results, status/list as JSON, one-line errors with exit codes', async (t) => {
  const s = await withStack(t, 'cli');
  const { cli } = s;
  const run = cli('run', 'distill', '--preset', 'mnist-quick',
    '--set', 'data.trainLimit=3000', '--set', 'teachers.count=1', '--set', 'teachers.train.epochs=1', '--set', 'teachers.model.hidden=[64]',
    '--set', 'student.model.hidden=[32]', '--set', 'student.train.epochs=2');
  assert.equal(run.code, 0, run.err);
  assert.match(run.err, /student-T20-a0\.9 +(done|█)/, 'progress lines per model');
  assert.match(run.out, /\| baseline-hard \| baseline \| \d+ \| \d+\.\d+% \|/);
  const id = /workflow (distill-mnist-quick-[0-9a-f]{8})/.exec(run.err)?.[1];
  assert.ok(id, run.err);
  const status = JSON.parse(cli('status', id, '--json').out) as { status: string; progress: { models: unknown[] } };
  assert.equal(status.status, 'COMPLETED');
  assert.equal(status.progress.models.length, 3);
  assert.ok((JSON.parse(cli('list', '--json').out) as { workflowId: string }[]).some((w) => w.workflowId === id));
  // Search attributes let the Temporal CLI filter chrysalis runs.
  const listed = s.temporal('workflow', 'list', '--query', "ChrysalisPipeline='distill' AND ChrysalisPreset='mnist-quick' AND ChrysalisDataset='mnist'", '-o', 'json');
  assert.ok((JSON.parse(listed.out || '[]') as { execution: { workflowId: string } }[]).some((w) => w.execution.workflowId === id), listed.out + listed.err);
  const report = cli('report', id);
  assert.equal(report.code, 0);
  assert.match(report.out, /^# chrysalis run /);

  const bad = cli('run', 'distill', '--set', 'students=[{"temperature":0,"alpha":2}]');
  assert.equal(bad.code, 2);
  assert.equal(bad.err.trim().split('\n').length, 1, 'one line');
  assert.match(bad.err, /^chrysalis: invalid input: students\.0\.temperature: T must be > 0; students\.0\.alpha: alpha must be in \[0, 1\]/);
  assert.equal(cli('status', 'no-such-run').code, 3);
  assert.equal(cli('frobnicate').code, 2);
});
