/**
 * bench/scale: a distillation run whose transfer set is MNIST × K consistent views (K = 2: 0.11 M rows; K = 20:
 * 1.1 M), over sharded data, with 1 or 2 compute workers. Per run: peak RSS of every worker, soft-target bytes per
 * row, teacher-inference throughput (rows × members / wall time of the fan-out), and the history length and largest
 * payload of every workflow of the run (the parent and its fan-out children).
 *
 *   npx tsc -p . && node dist/bench/scale/run.js [--runs 2:1,20:1,20:2] [--format float32|float16|top5]
 *     [--shard-rows R] [--equal-steps K0] [--out f]
 *
 * Shards hold 10 000 examples, i.e. 10 000·K rows with K views; `--shard-rows R` holds the rows per shard at R
 * instead (R / K examples), so a window's size stays the same as the transfer set grows, as it does for a user
 * whose dataset grows at a fixed shard size. `--equal-steps K0` trains the student and the baseline K0 / K epochs,
 * so every run takes the same optimiser steps: a worker's resident set climbs for the first minutes of training
 * whatever the data (the allocators' working set), and one epoch of 1.1 M rows trains 10 times longer than one of
 * 0.11 M.
 *
 * Each run gets its own Temporal + MinIO (ports 57233…) in a fresh data directory, so nothing is cached and every
 * worker's peak is its own. Models are tiny on purpose (784-64-10, one epoch): the bench measures the data path.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { stackStore, startDevStack } from '../../infra/dev-stack';
import { getJson } from '../../storage/artifact-store';
import { keys } from '../../common/store-keys';
import type { DevStack } from '../../infra/dev-stack';
import { DEFAULT_PIPELINE_QUEUE } from '../../common/queues';
import { describeMachine, machineInfo } from '../../ml/machine';
import type { DistillationSummary } from '../../workflows';

type Format = 'float32' | 'float16' | 'top5';
const FORMATS: Record<Format, Record<string, unknown>> = {
  float32: {},
  float16: { precision: 'float16' },
  top5: { topK: 5 },
};

interface Options {
  shardRows?: number;
  equalSteps?: number;
}

function config(views: number, format: Format, opts: Options) {
  const size = opts.shardRows ? Math.max(1, Math.round(opts.shardRows / views)) : 10_000;
  const epochs = opts.equalSteps ? opts.equalSteps / views : 1;
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`--equal-steps ${opts.equalSteps}: not a multiple of K`);
  const student = { model: { kind: 'mlp', hidden: [64] }, train: { epochs, batchSize: 256 } };
  const tiny = { model: { kind: 'mlp', hidden: [64] }, train: { epochs: 1, batchSize: 256 } };
  return {
    config: {
      name: `scale-${views}`,
      seed: 1,
      data: { dataset: 'mnist', validationSize: 5000, shards: { size, window: 2 } },
      teachers: { count: 1, ...tiny },
      transfer: { kind: 'full', ...(views > 1 ? { views } : {}) },
      student,
      students: [{ temperature: 4, alpha: 0.9 }],
      softTargets: { blockSize: 10_000, ...FORMATS[format] },
    },
  };
}

/** Peak and current resident set of a process, in MiB (Linux /proc). */
function rss(pid: number): { peakMiB: number; nowMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { peakMiB: kb('VmHWM') / 1024, nowMiB: kb('VmRSS') / 1024 };
}

/** The bytes of every payload in a history event (inputs, results, heartbeat details…). */
function payloadBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.length;
  if (!value || typeof value !== 'object') return 0;
  return Object.values(value).reduce((sum: number, v) => sum + payloadBytes(v), 0);
}

type Event = temporal.api.history.v1.IHistoryEvent;
const millis = (t: Event['eventTime']) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** One compute activity's span, from its history (started to completed or failed). */
interface Span {
  type: string;
  from: number;
  to: number;
}

/** The highest sampled RSS of a worker during each activity type's spans, in MiB. */
function peaksByActivity(samples: { t: number; mib: number }[], spans: Span[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { type, from, to } of spans)
    for (const { t, mib } of samples) if (t >= from && t <= to) out[type] = Math.max(out[type] ?? 0, mib);
  return out;
}

/** Events and largest payload of a workflow and, recursively, its children; and the block activities' span. */
async function histories(client: Client, workflowId: string) {
  const out: { workflowId: string; events: number; largestPayloadBytes: number }[] = [];
  let first = Infinity;
  let last = 0;
  const spans: Span[] = [];
  const visit = async (id: string) => {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    out.push({ workflowId: id, events: events.length, largestPayloadBytes: Math.max(...events.map(payloadBytes)) });
    const blocks = new Set<number>();
    const scheduledType = new Map<number, string>();
    const startedAt = new Map<number, number>();
    for (const e of events) {
      const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (type) scheduledType.set(Number(e.eventId), type);
      const started = e.activityTaskStartedEventAttributes;
      if (started) startedAt.set(Number(started.scheduledEventId), millis(e.eventTime));
      const ended = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      const id = Number(ended?.scheduledEventId);
      if (ended && scheduledType.has(id))
        spans.push({ type: scheduledType.get(id)!, from: startedAt.get(id) ?? 0, to: millis(e.eventTime) });
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType?.name === 'teacherLogitsBlock') {
        blocks.add(Number(e.eventId));
        first = Math.min(first, millis(e.eventTime));
      }
      const done = e.activityTaskCompletedEventAttributes;
      if (done && blocks.has(Number(done.scheduledEventId))) last = Math.max(last, millis(e.eventTime));
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
      if (child) await visit(child);
    }
  };
  await visit(workflowId);
  return { workflows: out, spans, fanOutSeconds: last > first ? (last - first) / 1000 : 0 };
}

async function oneRun(views: number, workers: number, format: Format, opts: Options) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-scale-'));
  const stack: DevStack = await startDevStack({
    dataDir,
    ports: { temporal: 57233, temporalUi: 58233, minio: 59000, minioConsole: 59001 },
    services: ['temporal', 'minio', 'pipeline-worker'],
  });
  const names = Array.from({ length: workers }, (_, i) => `compute-${i}`);
  for (const name of names) await stack.start('compute-worker', {}, name);
  const connection = await Connection.connect({ address: stack.env['TEMPORAL_ADDRESS']! });
  try {
    const client = new Client({ connection });
    const workflowId = `scale-${views}-${workers}-${format}-${Date.now()}`;
    const samples = new Map(names.map((n) => [n, [] as { t: number; mib: number }[]]));
    const sampler = setInterval(() => {
      for (const n of names) samples.get(n)!.push({ t: Date.now(), mib: rss(stack.processes.get(n)!.pid!).nowMiB });
    }, 100);
    const t0 = Date.now();
    const summary = (await client.workflow.execute('distillationPipeline', {
      taskQueue: DEFAULT_PIPELINE_QUEUE,
      workflowId,
      args: [config(views, format, opts)],
    })) as DistillationSummary;
    const wallSeconds = (Date.now() - t0) / 1000;
    clearInterval(sampler);
    const peaks = Object.fromEntries([...names, 'pipeline-worker'].map((n) => [n, rss(stack.processes.get(n)!.pid!)]));
    const { workflows, spans, fanOutSeconds } = await histories(client, workflowId);
    const byActivity = Object.fromEntries(names.map((n) => [n, peaksByActivity(samples.get(n)!, spans)]));
    const soft = await getJson<{ n: number; members: number; logits: { bytes: number }; parts?: { bytes: number } }>(
      stackStore(stack),
      `${keys.softTargets(summary.softTargets.key)}/manifest.json`,
    );
    const rows = soft.n;
    return {
      views,
      workers,
      format,
      shardSize: config(views, format, opts).config.data.shards.size,
      studentEpochs: config(views, format, opts).config.student.train.epochs,
      transferRows: rows,
      wallSeconds,
      rssMiB: peaks,
      // Sampled every 100 ms; spans of all workers' activities, so with 2 workers a type's peak is either's.
      rssPeakMiBDuring: byActivity,
      // Parted soft targets (sharded data): the part files' bytes; the index is not counted.
      softTargetBytesPerRow: (soft.parts?.bytes ?? soft.logits.bytes) / rows,
      teacherInference: { fanOutSeconds, rowsPerSecond: fanOutSeconds > 0 ? (rows * soft.members) / fanOutSeconds : 0 },
      historyEventsMax: Math.max(...workflows.map((w) => w.events)),
      largestPayloadBytes: Math.max(...workflows.map((w) => w.largestPayloadBytes)),
      workflows: workflows.length,
      studentErrors: summary.models.map((m) => [m.name, m.errors]),
    };
  } finally {
    await connection.close();
    await stack.stopAll();
  }
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const runs = arg('runs', '2:1,20:1,20:2')
    .split(',')
    .map((r) => r.split(':').map(Number) as [number, number]);
  const format = arg('format', 'float32') as Format;
  const num = (name: string) => (arg(name, '') === '' ? undefined : Number(arg(name, '')));
  const [shardRows, equalSteps] = [num('shard-rows'), num('equal-steps')];
  const opts: Options = { ...(shardRows ? { shardRows } : {}), ...(equalSteps ? { equalSteps } : {}) };
  const machine = machineInfo();
  console.log(`machine: ${describeMachine(machine)}`);
  const results = [];
  for (const [views, workers] of runs) {
    const r = await oneRun(views, workers, format, opts);
    console.log(JSON.stringify(r));
    results.push(r);
  }
  const out = arg('out', '');
  const report = {
    bench: 'scale',
    date: new Date().toISOString(),
    machine,
    options: opts,
    loadAverage: os.loadavg(),
    results,
  };
  if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
