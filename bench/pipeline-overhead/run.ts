/**
 * bench/pipeline-overhead: how much of a distillation run's wall time is *not* training or inference
 * (orchestration, storage, serialization, data loading), on mnist-quick-sized runs, and what a
 * soft-target cache hit saves against a miss.
 *
 *   npx tsc -p . && node dist/bench/pipeline-overhead/run.js [--preset mnist-quick] [--out file.json]
 *
 * It starts its own Temporal + MinIO + one pipeline and one compute worker (1 slot, so activities run
 * one after another and their compute times add up to the busy time), on ports 47233…, with a fresh
 * data dir: run 1 misses every cache, run 2 changes only the students (soft targets hit).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { stackStore, startDevStack } from '../../infra/dev-stack';
import type { DistillationReport } from '../../reports/distillation-markdown';
import type { DistillationSummary } from '../../workflows';
import { DEFAULT_PIPELINE_QUEUE } from '../../common/queues';
import { activitySecondsByType, eventSeconds } from '../common/activity-seconds';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

async function main(): Promise<void> {
  const preset = arg('preset', 'mnist-quick');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-bench-'));
  const stack = await startDevStack({
    dataDir,
    ports: { temporal: 47233, temporalUi: 48233, minio: 49000, minioConsole: 49001 },
  });
  const connection = await Connection.connect({ address: stack.env['TEMPORAL_ADDRESS']! });
  const client = new Client({ connection });
  const store = stackStore(stack);
  const rows: Record<string, unknown>[] = [];
  try {
    for (const [label, overrides] of [
      ['cache miss', {}],
      ['soft-target cache hit', { students: [{ temperature: 4, alpha: 0.9 }] }],
    ] as const) {
      const id = `bench-${label.replace(/\W+/g, '-')}-${Date.now()}`;
      const handle = await client.workflow.start('distillationPipeline', {
        taskQueue: DEFAULT_PIPELINE_QUEUE,
        workflowId: id,
        args: [{ preset, overrides }],
      });
      const summary = (await handle.result()) as DistillationSummary;
      const d = await handle.describe();
      const wall = (d.closeTime!.getTime() - d.startTime.getTime()) / 1000;
      const report = JSON.parse(new TextDecoder().decode(await store.get(summary.report.json))) as DistillationReport;
      const training = report.models.reduce((a, m) => a + (m.training?.loopSeconds ?? 0), 0);
      const inference =
        report.models.reduce((a, m) => a + m.evaluation.inferenceSeconds, 0) + report.softTargets.inferenceSeconds;
      // Soft-target stage: everything between the cache look-up and the soft targets being available.
      const history = await handle.fetchHistory();
      const at = (type: string, which: 'first' | 'last') => {
        const ids = new Set(
          (history.events ?? [])
            .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type)
            .map((e) => Number(e.eventId)),
        );
        const done = (history.events ?? []).filter(
          (e) =>
            e.activityTaskCompletedEventAttributes &&
            ids.has(Number(e.activityTaskCompletedEventAttributes.scheduledEventId)),
        );
        const ev = which === 'first' ? done[0] : done.at(-1);
        return ev?.eventTime ? eventSeconds(ev) : undefined;
      };
      const lookupDone = at('lookupSoftTargets', 'first')!;
      const softReady = at('computeSoftTargets', 'last') ?? lookupDone;
      const lookupScheduled = (history.events ?? []).find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'lookupSoftTargets',
      )!;
      const softStage = softReady - eventSeconds(lookupScheduled);
      // Where the time goes: each activity type's total (started → completed) and what is left between them.
      const byType = activitySecondsByType(history.events ?? []);
      const inActivities = Object.values(byType).reduce((a, b) => a + b, 0);
      rows.push({
        run: label,
        activitySeconds: byType,
        betweenActivitiesSeconds: wall - inActivities,
        workflowId: id,
        wallSeconds: wall,
        trainingSeconds: training,
        inferenceSeconds: inference,
        outsideSeconds: wall - training - inference,
        outsideShare: (wall - training - inference) / wall,
        softTargetStageSeconds: softStage,
        models: report.models.map((m) => ({
          name: m.name,
          errors: m.evaluation.errors,
          cached: m.training?.cached ?? null,
        })),
      });
    }
  } finally {
    await connection.close();
    await stack.stopAll();
  }
  const result = {
    bench: 'pipeline-overhead',
    preset,
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    loadavg: os.loadavg(),
    rows,
  };
  const out = arg('out', '');
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  for (const r of rows) {
    process.stdout.write(
      `${String(r['run'])}: ${Object.entries(r['activitySeconds'] as Record<string, number>)
        .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
        .join(', ')}; between activities ${(r['betweenActivitiesSeconds'] as number).toFixed(2)} s\n`,
    );
    const seconds = (key: string, digits: number) => `${(r[key] as number).toFixed(digits)} s`;
    const cells = [
      String(r['run']),
      seconds('wallSeconds', 1),
      seconds('trainingSeconds', 1),
      seconds('inferenceSeconds', 1),
      seconds('outsideSeconds', 2),
      `${((r['outsideShare'] as number) * 100).toFixed(2)}%`,
      seconds('softTargetStageSeconds', 2),
    ];
    process.stdout.write(`| ${cells.join(' | ')} |\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`pipeline-overhead: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
