import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Context, asyncLocalStorage } from '@temporalio/activity';
import type { Info } from '@temporalio/activity';
import { noopMetricMeter } from '@temporalio/common';
import { createLogger } from '../../config';
import { LocalArtifactStore } from '../../storage';
import { saveCheckpoint } from '../../artifacts/models';
import { durableTraining } from '../../activities/durable-training';
import type { ModelProgressUpdate } from '../../common/progress';
import { ProgressTracker } from '../../workflows/progress';
import { modelLine, render } from '../../cli/progress-view';

/** A promise the test settles by hand: the activity a model's status follows. */
function activity<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const status = (t: ProgressTracker, name: string) => t.snapshot().models.find((m) => m.name === name)?.status;

test('a scheduled model is queued until its first progress update, then running, then done', async () => {
  const t = new ProgressTracker();
  t.model('student', 'student', 4);
  assert.equal(status(t, 'student'), 'pending');
  const a = activity<{ cached: boolean }>();
  const tracked = t.track('student', a.promise);
  assert.equal(status(t, 'student'), 'queued', 'waiting for a compute slot');
  assert.match(render(t.snapshot())[1]!, /^student +queued +4 ep$/);

  t.update({ model: 'student', epoch: 0, epochs: 4 }); // the attempt started: no loss yet
  let m = t.snapshot().models[0]!;
  assert.equal(m.status, 'running');
  assert.deepEqual([m.epoch, m.loss, m.trainAccuracy, m.etaSeconds], [0, undefined, undefined, undefined]);
  assert.match(modelLine(m), /^student +░{24} +0\/4$/);

  t.update({ model: 'student', epoch: 1, epochs: 4, loss: 0.5, trainAccuracy: 0.9, epochSeconds: 2 });
  m = t.snapshot().models[0]!;
  assert.deepEqual([m.status, m.epoch, m.loss, m.etaSeconds], ['running', 1, 0.5, 6]);
  assert.match(modelLine(m), /1\/4 loss 0\.5000 acc 90\.00% eta 6s$/);

  a.resolve({ cached: false });
  await tracked;
  m = t.snapshot().models[0]!;
  assert.deepEqual([m.status, m.epoch, m.etaSeconds], ['done', 4, 0]);
});

const RESUME_REUSE_FAILURE_TEST =
  'a resumed attempt starts at its checkpoint; a reused model goes from queued to cached; a failure shows';
test(RESUME_REUSE_FAILURE_TEST, async () => {
  const t = new ProgressTracker();
  t.model('teacher-1', 'teacher', 6);
  t.model('teacher-2', 'teacher', 6);
  t.model('baseline', 'baseline', 6);
  const resumed = activity<{ cached: boolean }>();
  const reused = activity<{ cached: boolean }>();
  const failing = activity<{ cached: boolean }>();
  const tracked = [
    t.track('teacher-1', resumed.promise),
    t.track('teacher-2', reused.promise),
    t.track('baseline', failing.promise).catch((e: Error) => e.message),
  ];
  t.update({ model: 'teacher-1', epoch: 3, epochs: 6, checkpointEpoch: 3, resumedFromEpoch: 3 });
  const m = t.snapshot().models[0]!;
  assert.deepEqual([m.status, m.epoch, m.checkpointEpoch, m.resumedFromEpoch], ['running', 3, 3, 3]);
  assert.match(modelLine(m), /3\/6 \(resumed at 3\)$/);
  assert.equal(status(t, 'teacher-2'), 'queued');
  reused.resolve({ cached: true });
  failing.reject(new Error('boom'));
  resumed.resolve({ cached: false });
  assert.deepEqual(await Promise.all(tracked), [{ cached: false }, { cached: true }, 'boom']);
  assert.deepEqual(
    t.snapshot().models.map((x) => x.status),
    ['done', 'cached', 'failed'],
  );
});

/** Runs `fn` as if inside a training activity of workflow `wf-1`, so durableTraining sees a context. */
function inActivity<T>(fn: () => Promise<T>): Promise<T> {
  const info = { workflowExecution: { workflowId: 'wf-1', runId: 'run-1' }, heartbeatDetails: undefined, attempt: 1 };
  const none = (): void => undefined;
  const log = { log: none, trace: none, debug: none, info: none, warn: none, error: none };
  const ctx = new Context(
    info as unknown as Info,
    new Promise<never>(() => undefined),
    new AbortController().signal,
    () => undefined,
    undefined,
    log,
    noopMetricMeter,
    {},
  );
  return asyncLocalStorage.run(ctx, fn);
}

test('a training attempt signals progress when it starts, at the epoch it resumes after', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-progress-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LocalArtifactStore(dir);
  const sent: [string, ModelProgressUpdate][] = [];
  const deps = {
    store,
    reportProgress: async (wf: { workflowId: string }, u: ModelProgressUpdate) => {
      sent.push([wf.workflowId, u]);
    },
  };
  const log = createLogger({ name: 't', format: 'json', level: 'warn', destination: new PassThrough() });
  await inActivity(() => durableTraining(deps, { digest: 'fresh', name: 'student', epochs: 5, log }));
  assert.deepEqual(sent, [['wf-1', { model: 'student', epoch: 0, epochs: 5 }]]);

  await saveCheckpoint(store, 'resumed', { epoch: 3, weights: {}, optimizer: {}, history: [] });
  sent.length = 0;
  const training = await inActivity(() =>
    durableTraining(deps, { digest: 'resumed', name: 'teacher-1', epochs: 5, log }),
  );
  assert.equal(training.resume?.epoch, 3);
  assert.deepEqual(sent, [
    ['wf-1', { model: 'teacher-1', epoch: 3, epochs: 5, checkpointEpoch: 3, resumedFromEpoch: 3 }],
  ]);

  sent.length = 0;
  await durableTraining(deps, { digest: 'fresh', name: 'student', epochs: 5, log });
  assert.deepEqual(sent, [], 'outside an activity (benchmarks, tests) there is no workflow to tell');
});
