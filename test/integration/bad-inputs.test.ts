/**
 * Bad input ends the run at once as a failed run: each input that once hung a workflow (task-failure
 * loop) or was silently ignored is sent through the Temporal client and through the Temporal CLI, the
 * way an operator or a script would, and must end FAILED with a non-retryable InvalidInput naming the
 * field — never left running.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { encodeIdx, loadDataset } from '../../ml';
import { assertInvalidInputs } from '../helpers/assertions';
import { scheduledActivities, userDataDir, withStack } from '../helpers/stack';

/** The issue's table: inputs for distillationPipeline and the field each message must name. */
function badInputs(computeQueue: string): [unknown, RegExp][] {
  const quick = (extra: Record<string, unknown>) => ({ preset: 'mnist-quick', options: { computeQueue }, ...extra });
  const all = Array.from({ length: 10 }, (_, i) => i);
  return [
    [null, /^invalid input: \(root\): the input must be an object/],
    [quick({ options: { computeQueue, heartbeatTimeoutSeconds: -5 } }), /options\.heartbeatTimeoutSeconds: Too small/],
    [
      quick({ options: { computeQueue, heartbeatTimeoutSeconds: 'soon' } }),
      /options\.heartbeatTimeoutSeconds: Invalid/,
    ],
    [quick({ options: { computeQueue, trainTimeoutMinutes: 0 } }), /options\.trainTimeoutMinutes: Too small/],
    [quick({ options: { computeQueue: '' } }), /options\.computeQueue: an empty queue name/],
    [quick({ options: { computeQueue: 7 } }), /options\.computeQueue: Invalid input: expected string/],
    [quick({ options: { computeQueue, gpu: true } }), /options\.gpu: unknown key/],
    [quick({ options: 'fast' }), /options: Invalid input: expected object/],
    [quick({ dataset: { name: 'mnist' } }), /^invalid input: dataset: unknown key/],
    [quick({ overide: { seed: 2 } }), /^invalid input: overide: unknown key/],
    [JSON.parse(`{"preset":"mnist-quick","__proto__":{"x":1}}`), /^invalid input: __proto__: unknown key/],
    [
      quick({ overrides: { student: { model: { hidden: [2000000000] } } } }),
      /student\.model: the model has .* parameters/,
    ],
    [
      quick({ overrides: { transfer: { kind: 'excludeClasses', classes: all } } }),
      /transfer\.classes: excluding all 10/,
    ],
    [
      quick({
        overrides: {
          data: {
            dataset: 'idx',
            idx: { trainImages: 'minio:../../secret', trainLabels: '/d/a', testImages: '/d/b', testLabels: '/d/c' },
          },
        },
      }),
      /data\.idx\.trainImages: not a valid data reference/,
    ],
    [
      quick({ overrides: { teachers: { softTargets: { key: 'no-such-key' } } } }),
      /teachers\.softTargets\.key: not found: no object "soft-targets\/no-such-key\/manifest\.json" in the store/,
    ],
    [
      quick({ overrides: { teachers: { refs: [{ manifestKey: 'models/none/manifest.json' }] } } }),
      /teachers\.refs\.0\.manifestKey: not found: no object "models\/none\/manifest\.json" in the store/,
    ],
  ];
}

test('every bad input of the table ends as a failed run naming the field (Temporal client)', async (t) => {
  const s = await withStack(t, 'bad-inputs', { startCompute: false });
  await assertInvalidInputs(s, 'distillationPipeline', badInputs(s.queues.compute));
});

test('the same inputs through `temporal workflow start` all end FAILED within seconds', async (t) => {
  const s = await withStack(t, 'bad-cli', { startCompute: false });
  const stamp = Date.now();
  const ids = badInputs(s.queues.compute).map(([input], i) => {
    const id = `bad-cli-${i}-${stamp}`;
    const r = s.temporalStart('distillationPipeline', id, JSON.stringify(input));
    assert.equal(r.code, 0, `start ${id}: ${r.err}`);
    return id;
  });
  // Wait on the condition asserted: every run closed. Validation takes one light activity each.
  const deadline = Date.now() + 120_000;
  let open = ids;
  while (open.length > 0 && Date.now() < deadline) {
    const states = await Promise.all(
      open.map(async (id) => [id, (await s.client.workflow.getHandle(id).describe()).status.name] as const),
    );
    for (const [id, status] of states) if (status !== 'RUNNING') assert.equal(status, 'FAILED', id);
    open = states.filter(([, status]) => status === 'RUNNING').map(([id]) => id);
    if (open.length > 0) await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(open, [], 'runs still open');
  // No run got past validation: no compute activity was ever scheduled.
  for (const id of ids) assert.deepEqual(await scheduledActivities(s.client, id), ['validateDistillationInput'], id);
});

test('a split the loaded data cannot give fails once as InvalidInput naming the field and the numbers', async (t) => {
  const s = await withStack(t, 'bad-split');
  const ds = await loadDataset('mnist');
  const dir = userDataDir('idx-small');
  writeFileSync(path.join(dir, 'train-images.idx'), encodeIdx([1000, 28, 28], ds.train.images.subarray(0, 1000 * 784)));
  writeFileSync(path.join(dir, 'train-labels.idx'), encodeIdx([1000], ds.train.labels.subarray(0, 1000)));
  writeFileSync(path.join(dir, 'test-images.idx'), encodeIdx([100, 28, 28], ds.test.images.subarray(0, 100 * 784)));
  writeFileSync(path.join(dir, 'test-labels.idx'), encodeIdx([100], ds.test.labels.subarray(0, 100)));
  const idx = Object.fromEntries(
    ['trainImages', 'trainLabels', 'testImages', 'testLabels'].map((k) => [
      k,
      path.join(dir, `${k.replace(/[A-Z]/, (c) => `-${c.toLowerCase()}`)}.idx`),
    ]),
  );
  const workflowId = `bad-split-${Date.now()}`;
  const err = await s.client.workflow
    .execute('distillationPipeline', {
      taskQueue: s.queues.pipeline,
      workflowId,
      args: [
        {
          preset: 'mnist-quick',
          overrides: { data: { dataset: 'idx', idx } },
          options: { computeQueue: s.queues.compute },
        },
      ],
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure, String(err));
  const cause = err.cause.cause;
  assert.ok(cause instanceof ApplicationFailure);
  assert.equal(cause.type, 'InvalidInput');
  assert.equal(cause.nonRetryable, true);
  assert.match(
    cause.message,
    /^invalid input: data\.validationSize: 5000 leaves no training data: the dataset has 1000 training examples/,
  );
  const history = await s.client.workflow.getHandle(workflowId).fetchHistory();
  const attempts = (history.events ?? []).flatMap((e) =>
    e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : [],
  );
  assert.deepEqual(attempts.slice(-1), [1], 'prepareData ran once: not retried');

  await t.test('local paths outside the data roots are refused by the worker before a file is opened', async () => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'outside-roots-'));
    writeFileSync(path.join(outside, 'images.idx'), 'never read');
    symlinkSync(path.join(outside, 'images.idx'), path.join(dir, 'link-out.idx'));
    const withFile = (trainImages: string) => ({
      preset: 'mnist-quick',
      overrides: { data: { dataset: 'idx', idx: { ...idx, trainImages } } },
      options: { computeQueue: s.queues.compute },
    });
    await assertInvalidInputs(s, 'distillationPipeline', [
      [withFile('/etc/passwd'), /^invalid input: data\.idx\.trainImages: \/etc\/passwd: outside the data roots/],
      [
        withFile(path.join(outside, 'images.idx')),
        /data\.idx\.trainImages: .*outside-roots-.*: outside the data roots/,
      ],
      [
        withFile(path.join(dir, 'link-out.idx')),
        /data\.idx\.trainImages: .*link-out\.idx: a link to .*outside the data roots/,
      ],
      [
        withFile('train-images.idx'),
        /data\.idx\.trainImages: not a valid data reference: a local path must be absolute/,
      ],
    ]);
  });

  await t.test(
    'data files that are not what they claim end the run at once, naming the field and the file',
    async () => {
      const write = (name: string, bytes: Uint8Array) => {
        writeFileSync(path.join(dir, name), bytes);
        return path.join(dir, name);
      };
      const withIdx = (over: Record<string, string>) => ({
        preset: 'mnist-quick',
        overrides: { data: { dataset: 'idx', idx: { ...idx, ...over } } },
        options: { computeQueue: s.queues.compute },
      });
      const fakeGzip = write('fake-gzip.idx', Uint8Array.from([0x1f, 0x8b, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
      const float = new Uint8Array(8 + 4 * 1000);
      float.set([0, 0, 0x0d, 1]);
      new DataView(float.buffer).setUint32(4, 1000);
      const labels = ds.test.labels.slice(0, 100);
      labels[7] = 12;
      await assertInvalidInputs(s, 'distillationPipeline', [
        [
          withIdx({ trainLabels: fakeGzip }),
          /^invalid input: data\.idx\.trainLabels: .*fake-gzip\.idx: starts like gzip \(1f 8b\) but is not a readable gzip stream/,
        ],
        [
          withIdx({ trainLabels: write('float.idx', float) }),
          /^invalid input: data\.idx\.trainLabels: .*float\.idx: IDX dtype 0x0D \(float32\) is not supported/,
        ],
        [
          withIdx({ testLabels: write('past.idx', encodeIdx([100], labels)) }),
          /^invalid input: data\.idx\.testLabels: .*past\.idx: item 7: label 12 is not below 10 classes/,
        ],
      ]);
    },
  );
});
