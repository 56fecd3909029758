/**
 * bench/end-to-end, chrysalis's half: the mnist-paper recipe at a reduced epoch budget through the whole
 * pipeline (data import → teacher → soft targets → two distilled students + the hard baseline → evaluation →
 * report), on a Temporal + MinIO + one pipeline and one compute worker that this script starts, in a fresh data
 * directory so nothing is cached. bench/end-to-end/pytorch_recipe.py is the same recipe as a plain PyTorch
 * script; run.sh runs both back to back and report.py compares them.
 *
 *   npx tsc -p . && node dist/bench/end-to-end/run.js [--teacher-epochs 2] [--student-epochs 2] [--out file.json]
 *
 * Ports 47333…, apart from the other benches'.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { stackStore, startDevStack } from '../../infra/dev-stack';
import type { DistillationReport } from '../../reports/distillation-markdown';
import type { DistillationSummary } from '../../workflows';
import { DEFAULT_PIPELINE_QUEUE } from '../../common/queues';
import { machineInfo } from '../../ml/machine';
import { activitySecondsByType } from '../common/activity-seconds';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** What one run cost, split the way pytorch_recipe.py splits its own time. */
interface RunFigures {
  workflowId: string;
  /** Workflow start → close, as Temporal recorded them. */
  wallSeconds: number;
  /** From the client's start call to its result: what the user waits for. */
  clientSeconds: number;
  /** Sum of every model's training loop (epoch times). */
  trainingSeconds: number;
  /** Test evaluation of every model plus the soft-target inference. */
  inferenceSeconds: number;
  /** The rest: data import, orchestration, storage, checkpoints, cost measurement, the report. */
  outsideSeconds: number;
  /** Each activity type's seconds (started → completed); wall − their sum = time between activities. */
  activitySeconds: Record<string, number>;
  betweenActivitiesSeconds: number;
  models: { name: string; role: string; errors: number; loopSeconds: number }[];
}

function figures(
  report: DistillationReport,
  activitySeconds: Record<string, number>,
  ids: { workflowId: string; wall: number; client: number },
): RunFigures {
  const wall = ids.wall;
  const trainingSeconds = report.models.reduce((a, m) => a + (m.training?.loopSeconds ?? 0), 0);
  const inferenceSeconds =
    report.models.reduce((a, m) => a + m.evaluation.inferenceSeconds, 0) + report.softTargets.inferenceSeconds;
  return {
    workflowId: ids.workflowId,
    wallSeconds: wall,
    clientSeconds: ids.client,
    trainingSeconds,
    inferenceSeconds,
    outsideSeconds: wall - trainingSeconds - inferenceSeconds,
    activitySeconds,
    betweenActivitiesSeconds: wall - Object.values(activitySeconds).reduce((a, b) => a + b, 0),
    models: report.models.map((m) => ({
      name: m.name,
      role: m.role,
      errors: m.evaluation.errors,
      loopSeconds: m.training?.loopSeconds ?? 0,
    })),
  };
}

async function main(): Promise<void> {
  // The compiled step is opt-in for now (ml/compiled-step.ts COMPILED_OPT_IN); the workers inherit this.
  process.env['CHRYSALIS_STEP'] ??= 'compiled';
  const teacherEpochs = Number(arg('teacher-epochs', '2'));
  const studentEpochs = Number(arg('student-epochs', '2'));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-e2e-'));
  const stackStarted = performance.now();
  const stack = await startDevStack({
    dataDir,
    ports: { temporal: 47333, temporalUi: 48333, minio: 49100, minioConsole: 49101 },
  });
  const stackSeconds = (performance.now() - stackStarted) / 1000;
  const connection = await Connection.connect({ address: stack.env['TEMPORAL_ADDRESS']! });
  let run: RunFigures;
  try {
    const client = new Client({ connection });
    const workflowId = `bench-e2e-${Date.now()}`;
    const t0 = performance.now();
    const handle = await client.workflow.start('distillationPipeline', {
      taskQueue: DEFAULT_PIPELINE_QUEUE,
      workflowId,
      args: [
        {
          preset: 'mnist-paper',
          overrides: { teachers: { train: { epochs: teacherEpochs } }, student: { train: { epochs: studentEpochs } } },
        },
      ],
    });
    const summary = (await handle.result()) as DistillationSummary;
    const clientSeconds = (performance.now() - t0) / 1000;
    const d = await handle.describe();
    const wall = (d.closeTime!.getTime() - d.startTime.getTime()) / 1000;
    const bytes = await stackStore(stack).get(summary.report.json);
    const report = JSON.parse(new TextDecoder().decode(bytes)) as DistillationReport;
    const byType = activitySecondsByType((await handle.fetchHistory()).events ?? []);
    run = figures(report, byType, { workflowId, wall, client: clientSeconds });
  } finally {
    await connection.close();
    await stack.stopAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const result = {
    bench: 'end-to-end',
    side: 'chrysalis',
    preset: 'mnist-paper',
    teacherEpochs,
    studentEpochs,
    date: new Date().toISOString(),
    machine: machineInfo(),
    loadavg: os.loadavg(),
    /** Temporal, MinIO and both workers up: paid once per machine, not per run, so not in wallSeconds. */
    stackSeconds,
    ...run,
  };
  const out = arg('out', '');
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`end-to-end: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
