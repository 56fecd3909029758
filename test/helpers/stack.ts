/**
 * Integration-test access to the real dev stack started by infra/run-tests.mjs: spawns real worker
 * processes on per-test task queues and gives a connected Temporal client.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestContext } from 'node:test';
import type { DevStack } from '../../infra/dev-stack';
import { repoRoot } from '../../config/env';
import { stackStore, startDevStack } from '../../infra/dev-stack';
import type { MinioArtifactStore } from '../../storage';

export interface CommandResult {
  code: number | null;
  out: string;
  err: string;
}

export interface TestStack {
  stack: DevStack;
  client: Client;
  store: MinioArtifactStore;
  queues: { pipeline: string; compute: string };
  /** Instance names of the worker processes, for logs and fault injection. */
  workers: { pipeline: string; compute: string };
  startCompute(instance?: string, extraEnv?: Record<string, string>): Promise<void>;
  logs(): string;
  /**
   * An instance's log once it matches `pattern`: worker output reaches its log file through a pipe,
   * so a line written just before an event the test saw may land a moment later.
   */
  logMatching(instance: string, pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Runs `./chrysalis …` (the checkout's wrapper script, as the docs show it) against this stack and its queues. */
  cli: (...args: string[]) => CommandResult;
  /** The environment `cli` runs with: this stack's servers and queues. */
  cliEnv: NodeJS.ProcessEnv;
  /** Runs the installed Temporal CLI against this stack's server. */
  temporal: (...args: string[]) => CommandResult;
  /** Starts a workflow on this stack's pipeline queue, with a unique id `<idPrefix>-<time>`. */
  start(type: string, idPrefix: string, input: unknown): Promise<WorkflowHandle>;
  /** `temporal workflow start` of a workflow type on this stack's pipeline queue, input as JSON text. */
  temporalStart: (type: string, workflowId: string, input: string) => CommandResult;
}

export function requireStackEnv(): void {
  if (!process.env['CHRYSALIS_TEST_DATA_DIR'] || !process.env['TEMPORAL_ADDRESS']) {
    throw new Error('integration tests need the dev stack: run them through `npm test` (infra/run-tests.mjs)');
  }
}

export interface StackOptions {
  computeEnv?: Record<string, string>;
  startCompute?: boolean;
  /**
   * Run a private Temporal server and MinIO on ports base…base+3 (own data dir) instead of the
   * shared ones, so the test may stop and restart them.
   */
  ownServersOnPort?: number;
  /** Restart workers that die unasked, as `npm run dev` does. @default false */
  supervise?: boolean;
}

/**
 * A fresh directory for a test's own data files, under the test stack's data dir: the workers' default
 * data root (CHRYSALIS_DATA_DIR) on the shared servers, so local paths into it are allowed (a stack with
 * `ownServersOnPort` has a data dir of its own).
 */
export function userDataDir(prefix: string): string {
  const inputs = path.join(process.env['CHRYSALIS_TEST_DATA_DIR']!, 'inputs');
  mkdirSync(inputs, { recursive: true });
  return mkdtempSync(path.join(inputs, `${prefix}-`));
}

export async function withStack(t: TestContext, name: string, opts: StackOptions = {}): Promise<TestStack> {
  requireStackEnv();
  const base = opts.ownServersOnPort;
  const stack =
    base === undefined
      ? await startDevStack({
          dataDir: process.env['CHRYSALIS_TEST_DATA_DIR']!,
          services: [],
          supervise: opts.supervise ?? false,
        })
      : await startDevStack({
          dataDir: mkdtempSync(path.join(process.env['CHRYSALIS_TEST_DATA_DIR']!, `${name}-`)),
          ports: { temporal: base, temporalUi: base + 1, minio: base + 2, minioConsole: base + 3 },
          services: ['temporal', 'minio'],
          supervise: opts.supervise ?? false,
        });
  const queues = { pipeline: `${name}-pipeline`, compute: `${name}-compute` };
  const workers = { pipeline: `${name}-pipeline-worker`, compute: `${name}-compute-worker` };
  // Checkpoint after every epoch: fault tests interrupt runs whose epochs last about a second.
  const queueEnv = {
    CHRYSALIS_PIPELINE_QUEUE: queues.pipeline,
    CHRYSALIS_COMPUTE_QUEUE: queues.compute,
    CHRYSALIS_CHECKPOINT_MIN_SECONDS: '0',
  };
  await stack.start('pipeline-worker', queueEnv, workers.pipeline);
  const startCompute = async (instance = workers.compute, extraEnv: Record<string, string> = {}) => {
    await stack.start('compute-worker', { ...queueEnv, ...(opts.computeEnv ?? {}), ...extraEnv }, instance);
  };
  if (opts.startCompute ?? true) await startCompute();
  const connection = await Connection.connect({ address: stack.env['TEMPORAL_ADDRESS']! });
  const client = new Client({ connection });
  const store = stackStore(stack);
  await store.ensureBucket();
  t.after(async () => {
    await connection.close();
    await stack.stopAll();
  });
  const cliEnv = {
    ...process.env,
    ...stack.env,
    CHRYSALIS_PIPELINE_QUEUE: queues.pipeline,
    CHRYSALIS_COMPUTE_QUEUE: queues.compute,
  };
  const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv): CommandResult => {
    const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 180_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const temporal = (...args: string[]): CommandResult =>
    run(
      path.join(repoRoot, '.tools/bin/temporal'),
      [...args, '--address', stack.env['TEMPORAL_ADDRESS']!],
      process.env,
    );
  return {
    stack,
    client,
    store,
    queues,
    workers,
    startCompute,
    cliEnv,
    cli: (...args) => run(path.join(repoRoot, 'chrysalis'), args, cliEnv),
    temporal,
    start: (type, idPrefix, input) =>
      client.workflow.start(type, {
        taskQueue: queues.pipeline,
        workflowId: `${idPrefix}-${Date.now()}`,
        args: [input],
      }),
    temporalStart: (type, workflowId, input) =>
      temporal(
        'workflow',
        'start',
        '--type',
        type,
        '--task-queue',
        queues.pipeline,
        '--workflow-id',
        workflowId,
        '--input',
        input,
      ),
    logMatching: async (instance, pattern, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = existsSync(stack.logFile(instance)) ? readFileSync(stack.logFile(instance), 'utf8') : '';
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) throw new Error(`${instance}'s log never matched ${pattern}:\n${text.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    logs: () =>
      [...stack.processes.keys(), workers.pipeline, workers.compute]
        .map((n) => {
          try {
            return readFileSync(stack.logFile(n), 'utf8');
          } catch {
            return '';
          }
        })
        .join('\n'),
  };
}

/** Activity types scheduled in a workflow's history, in order. */
export async function scheduledActivities(client: Client, workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((e) =>
    e.activityTaskScheduledEventAttributes?.activityType?.name
      ? [e.activityTaskScheduledEventAttributes.activityType.name]
      : [],
  );
}

/** Each scheduled activity's type and its summary line (what the Temporal Web UI shows), in order. */
export async function activitySummaries(
  client: Client,
  workflowId: string,
): Promise<{ type: string; summary: string | undefined }[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (!type) return [];
    const data = e.userMetadata?.summary?.data;
    return [{ type, summary: data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : undefined }];
  });
}

/**
 * `--set key=value` flags for the CLI from one settings object: nested objects become dotted keys (so a test can
 * pass the same overrides it gives the workflow), strings go as they are, anything else as JSON.
 */
export function setFlags(settings: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(settings).flatMap(([k, v]) => {
    const key = `${prefix}${k}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      return setFlags(v as Record<string, unknown>, `${key}.`);
    return ['--set', `${key}=${typeof v === 'string' ? v : JSON.stringify(v)}`];
  });
}
