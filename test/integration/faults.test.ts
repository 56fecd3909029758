/**
 * Durability with real processes: kill -9 of a compute worker mid-training, non-finite loss,
 * duplicate starts, cancellation, and the progress query.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { SmokeSummary } from '../../workflows';
import { progressQuery } from '../../workflows/progress';
import type { Progress } from '../../workflows/progress';
import { withStack } from '../helpers/stack';

/** A smoke run of a few seconds an epoch or less: tests that interrupt it hold it where they interrupt it. */
function longSmoke(epochs: number, computeQueue: string, extra: Record<string, unknown> = {}) {
  return {
    preset: 'smoke',
    overrides: {
      data: { dataset: 'mnist', validationSize: 1000, trainLimit: 12000 },
      model: { kind: 'mlp', hidden: [256, 256] },
      train: { epochs, batchSize: 64 },
      ...extra,
    },
    options: { computeQueue, heartbeatTimeoutSeconds: 5 },
  };
}

/**
 * Polls the progress query until the first model has `field` ≥ epoch: `epoch` (finished) or
 * `checkpointEpoch` (stored, so a retry resumes there) — wait on what the test asserts.
 */
async function waitForEpoch(
  query: () => Promise<Progress>,
  epoch: number,
  field: 'epoch' | 'checkpointEpoch' = 'epoch',
  timeoutMs = 180_000,
): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await query().catch(() => undefined);
    const m = p?.models[0];
    if (p && m && (m[field] ?? 0) >= epoch) return p;
    if (Date.now() > deadline) throw new Error(`no model reached ${field} ${epoch} in time: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('kill -9 of the compute worker mid-training: a new worker resumes from the last checkpoint', async (t) => {
  // The first worker holds at the end of epoch 3 (after epoch 2's checkpoint, before epoch 3's): the kill lands
  // there however fast this machine trains. The second worker holds nowhere.
  const s = await withStack(t, 'kill', { startCompute: false });
  await s.startCompute(undefined, { CHRYSALIS_FAULT_HOLD_EPOCH: '3' });
  const handle = await s.start('smokePipeline', 'kill', longSmoke(6, s.queues.compute));
  const p = await waitForEpoch(() => handle.query(progressQuery), 2, 'checkpointEpoch');
  const m = p.models[0]!;
  assert.equal(m.epochs, 6);
  assert.ok(
    m.loss !== undefined && m.trainAccuracy !== undefined && m.etaSeconds !== undefined,
    'progress carries loss, accuracy and ETA',
  );
  await s.logMatching(s.workers.compute, /"epoch":3,.*"msg":"training held/, 180_000);

  await s.stack.stop(s.workers.compute, 'SIGKILL');
  await s.startCompute(`${s.workers.compute}-2`);
  const summary = (await handle.result()) as SmokeSummary;

  assert.equal(summary.resumedFromEpoch, 2);
  assert.equal(summary.epochsTrained, 4);
  const second = await s.logMatching(`${s.workers.compute}-2`, /"msg":"epoch 6\/6 /);
  assert.match(second, /resuming from checkpoint after epoch 2/);
  // Epoch 3 ran on both workers (its end was never checkpointed): 3 + 4 epoch lines for a plan of 6.
  const first = readFileSync(s.stack.logFile(s.workers.compute), 'utf8');
  const epochLines = (log: string) => [...log.matchAll(/"msg":"epoch (\d+)\/6 /g)].map((x) => Number(x[1]));
  assert.deepEqual(epochLines(first), [1, 2, 3]);
  assert.deepEqual(epochLines(second), [3, 4, 5, 6]);
  assert.ok(summary.accuracy > 0.9);
});

test('a non-finite loss fails the run at once, non-retryably, naming model, epoch and batch', async (t) => {
  const s = await withStack(t, 'nan');
  const err = await s.client.workflow
    .execute('smokePipeline', {
      taskQueue: s.queues.pipeline,
      workflowId: `nan-${Date.now()}`,
      args: [longSmoke(3, s.queues.compute, { train: { epochs: 3, optimizer: { kind: 'sgd', learningRate: 1e30 } } })],
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof WorkflowFailedError);
  const activity = err.cause;
  assert.ok(activity instanceof ActivityFailure);
  const cause = activity.cause;
  assert.ok(cause instanceof ApplicationFailure);
  assert.equal(cause.type, 'NonFiniteLoss');
  assert.equal(cause.nonRetryable, true);
  assert.match(cause.message, /^trainModel: loss became (NaN|Infinity|-Infinity) at epoch 1, batch \d+/);
  await s.logMatching(s.workers.compute, /"model":"smoke".*"msg":"training failed"/);
});

test('starting the same run twice attaches to the first instead of duplicating work', async (t) => {
  const s = await withStack(t, 'twice');
  const id = `twice-${Date.now()}`;
  const start = () =>
    s.client.workflow.start('smokePipeline', {
      taskQueue: s.queues.pipeline,
      workflowId: id,
      args: [longSmoke(2, s.queues.compute)],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  const [a, b] = [await start(), await start()];
  assert.equal(a.firstExecutionRunId, b.firstExecutionRunId);
  await a.result();
  // A later identical run is all cache hits: the model recipe's digest names an existing model.
  const again = (await s.client.workflow.execute('smokePipeline', {
    taskQueue: s.queues.pipeline,
    workflowId: `${id}-again`,
    args: [longSmoke(2, s.queues.compute)],
  })) as SmokeSummary;
  assert.equal(again.epochsTrained, 0);
});

test('cancelling a run stops training within one heartbeat interval and ends it as cancelled', async (t) => {
  const s = await withStack(t, 'cancel');
  const handle = await s.start('smokePipeline', 'cancel', longSmoke(100, s.queues.compute));
  await waitForEpoch(() => handle.query(progressQuery), 1);
  const cancelledAt = Date.now();
  await handle.cancel();
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
  assert.equal((await handle.describe()).status.name, 'CANCELLED');
  const log = s.stack.logFile(s.workers.compute);
  const deadline = Date.now() + 15_000;
  let line: string | undefined;
  while (!line && Date.now() < deadline) {
    line = readFileSync(log, 'utf8')
      .split('\n')
      .find((l) => l.includes('"msg":"training cancelled"'));
    if (!line) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(line, 'the compute worker stopped training');
  const stoppedAt = (JSON.parse(line) as { time: number }).time;
  // Cancellation reaches the activity with a heartbeat response; heartbeats are throttled to 0.8 × the
  // 5 s timeout, so on a busy machine it can take most of one interval plus a batch: allow two.
  assert.ok(
    stoppedAt - cancelledAt <= 2 * 5_000,
    `training stopped ${stoppedAt - cancelledAt} ms after cancel (heartbeat timeout 5 s)`,
  );
});

test('SIGTERM to a compute worker checkpoints the current epoch and hands the run to another worker', async (t) => {
  // The first worker holds at the end of epoch 1 until it drains, so SIGTERM lands mid-run on any machine.
  const s = await withStack(t, 'drain', { startCompute: false });
  await s.startCompute(undefined, { CHRYSALIS_FAULT_HOLD_EPOCH: '1' });
  const handle = await s.start('smokePipeline', 'drain', longSmoke(6, s.queues.compute, { seed: 4242 }));
  await s.logMatching(s.workers.compute, /"epoch":1,.*"msg":"training held/, 180_000);
  const stopping = Date.now();
  await s.stack.stop(s.workers.compute, 'SIGTERM', 60_000);
  const stoppedIn = Date.now() - stopping;
  const first = readFileSync(s.stack.logFile(s.workers.compute), 'utf8');
  const drained = /"msg":"worker shutting down: checkpointed epoch (\d+)/.exec(first);
  assert.equal(drained?.[1], '1', 'the worker checkpointed epoch 1 on shutdown');
  assert.ok(stoppedIn < 20_000, `worker exited ${stoppedIn} ms after SIGTERM, not after the 2-minute grace period`);
  await s.startCompute(`${s.workers.compute}-2`);
  const summary = (await handle.result()) as SmokeSummary;
  assert.equal(summary.resumedFromEpoch, 1);
  assert.equal(summary.epochsTrained, 5);
});
