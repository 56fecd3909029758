/** The operator's surface: the Temporal CLI commands of docs/OPERATIONS.md and the chrysalis CLI end to end. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../config/env';
import type { DistillationSummary, SmokeSummary } from '../../workflows';
import { setFlags, withStack } from '../helpers/stack';

test('temporal workflow query progress, result, and reset of a finished run that reuses its artifacts', async (t) => {
  const s = await withStack(t, 'ops');
  const { temporal } = s;
  const id = `ops-${Date.now()}`;
  // A seed of its own: other tests share the store, and an identical recipe would be a cache hit.
  const input = JSON.stringify({
    preset: 'smoke',
    overrides: { seed: Date.now() % 1_000_000_000 },
    options: { computeQueue: s.queues.compute },
  });
  assert.equal(
    temporal(
      'workflow',
      'start',
      '--type',
      'smokePipeline',
      '--task-queue',
      s.queues.pipeline,
      '--workflow-id',
      id,
      '--input',
      input,
    ).code,
    0,
  );
  const first = (await s.client.workflow.getHandle(id).result()) as SmokeSummary;
  assert.equal(first.epochsTrained, 2);
  const q = temporal('workflow', 'query', '--workflow-id', id, '--name', 'progress', '-o', 'json');
  assert.equal(q.code, 0, q.err);
  const progress = (
    JSON.parse(q.out) as {
      queryResult: { stages: unknown[]; models: { name: string; status: string; epoch: number; epochs: number }[] }[];
    }
  ).queryResult[0]!;
  assert.deepEqual(
    progress.models.map((m) => [m.name, m.status, m.epoch, m.epochs]),
    [['smoke', 'done', 2, 2]],
  );
  const result = temporal('workflow', 'result', '--workflow-id', id);
  assert.equal(result.code, 0, result.err);
  assert.match(result.out, new RegExp(first.manifestKey));
  const described = temporal('workflow', 'describe', '--workflow-id', id);
  assert.equal(described.code, 0, described.err);
  assert.match(described.out, /COMPLETED/);

  const resetTo = (type: string, reason: string) =>
    temporal('workflow', 'reset', '--workflow-id', id, '--type', type, '--reason', reason, '--yes');
  const reset = resetTo('FirstWorkflowTask', 'test reset');
  assert.equal(reset.code, 0, reset.err + reset.out);
  const again = (await s.client.workflow.getHandle(id).result()) as SmokeSummary;
  assert.equal(again.manifestKey, first.manifestKey);
  assert.equal(again.epochsTrained, 0, 'the reset run found the published model and trained nothing');
  // OPERATIONS.md's form: replay only the last workflow task; the recorded activity results stand.
  const last = resetTo('LastWorkflowTask', 'retry after fix');
  assert.equal(last.code, 0, last.err + last.out);
  const replayed = (await s.client.workflow.getHandle(id).result()) as SmokeSummary;
  assert.equal(replayed.manifestKey, first.manifestKey);

  // OPERATIONS.md's distillation starts, inputs as written: both pass validation and reach the compute
  // stage (queued on the default compute queue, which nobody polls here; then terminated).
  const docInputs = [
    '{"preset":"mnist-quick"}',
    '{"preset":"mnist-tiny-sweep","overrides":{"students":[{"temperature":3,"alpha":0.9}]}}',
  ];
  for (const [k, docInput] of docInputs.entries()) {
    const wid = `${id}-doc-${k}`;
    const started = s.temporalStart('distillationPipeline', wid, docInput);
    assert.equal(started.code, 0, started.err);
    let stages: string[] = [];
    for (let i = 0; i < 100 && !stages.includes('prepare-data'); i++) {
      const p = temporal('workflow', 'query', '--workflow-id', wid, '--name', 'progress', '-o', 'json');
      stages =
        p.code === 0
          ? (JSON.parse(p.out) as { queryResult: { stages: { name: string }[] }[] }).queryResult[0]!.stages.map(
              (x) => x.name,
            )
          : [];
      if (!stages.includes('prepare-data')) await new Promise((r) => setTimeout(r, 300));
    }
    assert.deepEqual(stages, ['validate', 'prepare-data'], `${docInput} passed validation`);
    assert.equal(
      temporal(
        'workflow',
        'terminate',
        '--workflow-id',
        wid,
        '--reason',
        'test: no compute worker on chrysalis-compute',
      ).code,
      0,
    );
  }
});

// One stack and one finished run (started by the CLI) for every check below, each its own named subtest.
test('the chrysalis CLI against a running stack', async (t) => {
  const s = await withStack(t, 'cli');
  const { cli } = s;
  const setters = setFlags({
    data: { trainLimit: 3000 },
    teachers: { count: 1, train: { epochs: 1 }, model: { hidden: [64] } },
    student: { model: { hidden: [32] }, train: { epochs: 2 } },
  });
  const run = cli('run', 'distill', '--preset', 'mnist-quick', ...setters);
  assert.equal(run.code, 0, run.err);
  const id = /workflow (distill-mnist-quick-[0-9a-f]{8})/.exec(run.err)?.[1];
  assert.ok(id, run.err);

  await t.test('run prints a progress line per model and the results table', async () => {
    assert.match(run.err, /student-T20-a0\.9 +(done|█)/, 'progress lines per model');
    assert.match(run.out, /\| baseline-hard \| baseline \| \d+ \| \d+\.\d+% \|/);
  });
  await t.test('status and list answer as JSON', async () => {
    const status = JSON.parse(cli('status', id, '--json').out) as { status: string; progress: { models: unknown[] } };
    assert.equal(status.status, 'COMPLETED');
    assert.equal(status.progress.models.length, 3);
    assert.ok((JSON.parse(cli('list', '--json').out) as { workflowId: string }[]).some((w) => w.workflowId === id));
  });
  await t.test('search attributes let the Temporal CLI filter chrysalis runs', async () => {
    const listed = s.temporal(
      'workflow',
      'list',
      '--query',
      "ChrysalisPipeline='distill' AND ChrysalisPreset='mnist-quick' AND ChrysalisDataset='mnist'",
      '-o',
      'json',
    );
    assert.ok(
      (JSON.parse(listed.out || '[]') as { execution: { workflowId: string } }[]).some(
        (w) => w.execution.workflowId === id,
      ),
      listed.out + listed.err,
    );
  });
  await t.test("report prints the run's Markdown", async () => {
    const report = cli('report', id);
    assert.equal(report.code, 0);
    assert.match(report.out, /^# chrysalis run /);
  });
  await t.test('the same run command again names the same workflow, and the re-run trains nothing', async () => {
    const again = cli('run', 'distill', '--preset', 'mnist-quick', ...setters, '--detach');
    assert.equal(again.code, 0, again.err);
    assert.equal(again.out.trim(), id);
    const rerun = (await s.client.workflow.getHandle(id).result()) as DistillationSummary;
    assert.ok(rerun.softTargets.cacheHit && rerun.models.every((m) => m.cached), 'a re-run trains nothing');
  });
  await t.test("bench/results/summarize.mjs prints docs/RESULTS.md's rows from report --json", async () => {
    const rows = spawnSync(process.execPath, ['bench/results/summarize.mjs', id], {
      cwd: repoRoot,
      env: s.cliEnv,
      encoding: 'utf8',
    });
    assert.equal(rows.status, 0, rows.stderr);
    assert.match(rows.stdout, /^\| student-T20-a0\.9 \| 20 \| 0\.9 \| \d* \| \d+ \|/m);
  });
  await t.test('the search attributes register on a cluster other than the dev server (OPERATIONS.md)', async () => {
    const registered = s.temporal(
      'operator',
      'search-attribute',
      'create',
      '--name',
      'ChrysalisDocsCheck',
      '--type',
      'Keyword',
    );
    assert.equal(registered.code, 0, registered.err);
  });
  await t.test(
    'invalid input, unknown runs and unknown commands fail in one line with their exit codes; --help',
    async () => {
      const bad = cli('run', 'distill', '--set', 'students=[{"temperature":0,"alpha":2}]');
      assert.equal(bad.code, 2);
      assert.equal(bad.err.trim().split('\n').length, 1, 'one line');
      assert.match(
        bad.err,
        new RegExp(
          String.raw`^chrysalis: invalid input: students\.0\.temperature: T must be > 0; ` +
            String.raw`students\.0\.alpha: alpha must be in \[0, 1\]`,
        ),
      );
      const badSpecialists = cli(
        'run',
        'specialists',
        '--preset',
        'specialists-tiny',
        '--set',
        'clustering.specialists=11',
      );
      assert.equal(badSpecialists.code, 2);
      assert.match(
        badSpecialists.err,
        /^chrysalis: invalid input: clustering\.specialists: 11 clusters for 10 classes/,
      );
      assert.equal(cli('status', 'no-such-run').code, 3);
      assert.equal(cli('frobnicate').code, 2);
      const help = cli('--help');
      assert.equal(help.code, 0);
      assert.match(help.out, /^usage: chrysalis <command>/);
      assert.match(help.out, /run <distill\|specialists\|search\|smoke>/);
    },
  );
  await t.test('status, list and report --out in plain text', async () => {
    assert.match(cli('status', id).out, new RegExp(`^${id}  distillationPipeline  COMPLETED`));
    assert.match(cli('list').out, new RegExp(`COMPLETED +distillationPipeline +${id}`));
    const saved = cli('report', id, '--out', mkdtempSync(path.join(os.tmpdir(), 'cli-report-')), '--json');
    assert.equal(saved.code, 0, saved.err);
    assert.ok((JSON.parse(saved.out) as { files: string[] }).files.some((f) => f.endsWith('report.html')));
  });
  await t.test('--detach returns the id at once; chrysalis cancel and temporal workflow cancel stop runs', async () => {
    const seed = Date.now() % 1_000_000_000;
    const ids = [0, 1].map((k) => {
      const started = cli('run', 'smoke', '--detach', '--set', `seed=${seed + k}`, '--set', 'train.epochs=50');
      assert.equal(started.code, 0, started.err);
      assert.match(started.out, /^smoke-smoke-[0-9a-f]{8}\n$/);
      return started.out.trim();
    });
    assert.match(cli('cancel', ids[0]!).out, /cancellation requested for smoke-smoke-/);
    assert.equal(s.temporal('workflow', 'cancel', '--workflow-id', ids[1]!).code, 0);
    for (const wid of ids) {
      let status = '';
      for (let i = 0; i < 120 && status !== 'CANCELLED'; i++) {
        status = (JSON.parse(cli('status', wid, '--json').out) as { status: string }).status;
        if (status !== 'CANCELLED') await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(status, 'CANCELLED', `${wid} after cancel`);
    }
    const noExport = cli('export', ids[0]!, '--out', mkdtempSync(path.join(os.tmpdir(), 'no-export-')));
    assert.equal(noExport.code, 3);
    assert.match(
      noExport.err,
      /^chrysalis: export smoke-smoke-[0-9a-f]{8}: the run is CANCELLED; its export exists once it completes$/m,
    );
  });
});
