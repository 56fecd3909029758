import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeIdx, loadDataset } from '../../ml';
import { ArtifactCorruptError, ArtifactNotFoundError, decodeTensors, encodeTensors, sha256Hex } from '../../storage';
import type { SmokeSummary } from '../../workflows';
import { setFlags, userDataDir, withStack } from '../helpers/stack';

test('smoke pipeline trains through Temporal on the native backend and stores the model in MinIO', async (t) => {
  const s = await withStack(t, 'smoke');
  const summary = (await s.client.workflow.execute('smokePipeline', {
    taskQueue: s.queues.pipeline,
    workflowId: `smoke-${Date.now()}`,
    // A seed no other test uses, so the model is trained here whatever ran before.
    args: [{ preset: 'smoke', overrides: { seed: 4243 }, options: { computeQueue: s.queues.compute } }],
  })) as SmokeSummary;
  assert.equal(summary.backend, 'tensorflow');
  assert.equal(summary.backendFallback, false);
  assert.equal(summary.epochsTrained, 2);
  assert.ok(summary.accuracy > 0.8, `accuracy ${summary.accuracy}`);
  const manifest = JSON.parse(new TextDecoder().decode(await s.store.get(summary.manifestKey))) as {
    weights: { key: string; sha256: string };
  };
  assert.equal(manifest.weights.sha256, summary.weightsSha256);
  const weights = await s.store.get(manifest.weights.key);
  assert.equal(sha256Hex(weights), summary.weightsSha256);
  assert.ok(Object.keys(decodeTensors(weights)).includes('w0'));

  // Secrets never reach logs; the logs are pino JSON.
  const secret = s.stack.env['MINIO_SECRET_KEY']!;
  const logs = s.logs();
  assert.ok(logs.includes('compute backend: tensorflow'), 'compute worker logs its backend');
  assert.ok(!logs.includes(secret), 'the MinIO secret appears in a worker log');
  const line = logs.split('\n').find((l) => l.includes('compute worker started'))!;
  assert.equal((JSON.parse(line) as { name: string }).name, 'compute-worker');
});

test('MinIO store: tensor file round trip, checksum verified, typed errors', async (t) => {
  const s = await withStack(t, 'store', { startCompute: false });
  const bytes = encodeTensors({ x: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) } });
  const ref = await s.store.put(`test/${Date.now()}/x.cht`, bytes);
  assert.equal(ref.sha256, sha256Hex(bytes));
  assert.deepEqual(Array.from(decodeTensors(await s.store.get(ref))['x']!.data), [1, 2, 3, 4]);
  await assert.rejects(s.store.get('test/does-not-exist'), ArtifactNotFoundError);
  // An object whose recorded digest does not match its bytes is never returned as data.
  const key = `test/${Date.now()}/tampered.bin`;
  await s.store.client.putObject('chrysalis', key, Buffer.from([1, 2, 3]), 3, {
    'X-Amz-Meta-Sha256': sha256Hex('something else'),
  });
  await assert.rejects(s.store.get(key), ArtifactCorruptError);
  await assert.rejects(s.store.get({ ...ref, sha256: sha256Hex('x') }), ArtifactCorruptError);
});

test('a run on user-supplied IDX files, read from disk and from MinIO', async (t) => {
  const s = await withStack(t, 'idx');
  const ds = await loadDataset('mnist');
  const dir = userDataDir('idx');
  writeFileSync(
    path.join(dir, 'train-images.idx.gz'),
    gzipSync(encodeIdx([4000, 28, 28], ds.train.images.subarray(0, 4000 * 784))),
  );
  writeFileSync(path.join(dir, 'train-labels.idx'), encodeIdx([4000], ds.train.labels.subarray(0, 4000)));
  writeFileSync(path.join(dir, 'test-images.idx'), encodeIdx([1000, 28, 28], ds.test.images.subarray(0, 1000 * 784)));
  const testLabels = await s.store.put(
    `inputs/${Date.now()}/test-labels.idx`,
    encodeIdx([1000], ds.test.labels.subarray(0, 1000)),
  );
  const idx = {
    trainImages: path.join(dir, 'train-images.idx.gz'),
    trainLabels: path.join(dir, 'train-labels.idx'),
    testImages: path.join(dir, 'test-images.idx'),
    testLabels: `minio:${testLabels.key}`,
  };
  const summary = (await s.client.workflow.execute('smokePipeline', {
    taskQueue: s.queues.pipeline,
    workflowId: `idx-${Date.now()}`,
    args: [
      {
        preset: 'smoke',
        overrides: { data: { dataset: 'idx', idx, validationSize: 500 } },
        options: { computeQueue: s.queues.compute },
      },
    ],
  })) as SmokeSummary;
  assert.ok(summary.accuracy > 0.8, `accuracy ${summary.accuracy}`);
  // The README's form: the same files through `./chrysalis run distill … --set data.idx={…}`.
  const viaCli = s.cli(
    'run',
    'distill',
    '--preset',
    'mnist-quick',
    ...setFlags({
      data: { dataset: 'idx', idx: JSON.stringify(idx), validationSize: 500 },
      teachers: { count: 1, train: { epochs: 1 }, model: { hidden: [64] } },
      student: { model: { hidden: [32] }, train: { epochs: 1 } },
    }),
  );
  assert.equal(viaCli.code, 0, viaCli.err);
  assert.match(viaCli.out, /^\| student-T20-a0\.9 \| student \| \d+ \| \d+\.\d+% \|/m);
  assert.match(viaCli.err, /^workflow distill-mnist-quick-[0-9a-f]{8} /m);
  // A missing file is a clear, non-retryable failure naming it.
  const err = await s.client.workflow
    .execute('smokePipeline', {
      taskQueue: s.queues.pipeline,
      workflowId: `idx-missing-${Date.now()}`,
      args: [
        {
          preset: 'smoke',
          overrides: { data: { dataset: 'idx', idx: { ...idx, trainImages: path.join(dir, 'missing.idx') } } },
          options: { computeQueue: s.queues.compute },
        },
      ],
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.match(
    String((err as { cause?: { cause?: Error } }).cause?.cause?.message),
    /cannot read data file \/.*\/missing\.idx: ENOENT/,
  );
  assert.equal((err as { cause?: { cause?: { type?: string } } }).cause?.cause?.type, 'DatasetUnavailable');
});
