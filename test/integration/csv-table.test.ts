/**
 * A user's own table: MNIST digits pooled to 7×7 and written as a CSV of 49 numeric columns (plus an id
 * column the config leaves out, and the label in the middle), standardised per feature, distilled end to
 * end on the real stack; `predict` reads a CSV with the columns in another order and applies the stored
 * normalisation, so its answers on the test table are exactly the exported model's test errors.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../ml';
import type { DistillationSummary } from '../../workflows';
import { assertInvalidInputs } from '../helpers/assertions';
import { userDataDir, withStack } from '../helpers/stack';

const FEATURES = Array.from({ length: 49 }, (_, i) => `p${i}`);

/** The 28×28 digit at `i` as 49 means of 4×4 blocks. */
function pooled(images: Uint8Array, i: number): number[] {
  return FEATURES.map((_, f) => {
    const [by, bx] = [Math.floor(f / 7) * 4, (f % 7) * 4];
    let sum = 0;
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) sum += images[i * 784 + (by + y) * 28 + bx + x]!;
    return sum / 16;
  });
}

test('a CSV table run: numeric columns and a label, standardised, distilled, exported and predicted', async (t) => {
  const s = await withStack(t, 'csv');
  const mnist = await loadDataset('mnist');
  const dir = userDataDir('csv');
  const train = ['id,' + FEATURES.slice(0, 20).join(',') + ',digit,' + FEATURES.slice(20).join(',')];
  for (let i = 0; i < 2000; i++) {
    const v = pooled(mnist.train.images, i);
    train.push(`row${i},${v.slice(0, 20).join(',')},${mnist.train.labels[i]},${v.slice(20).join(',')}`);
  }
  const test = [['digit', ...[...FEATURES].reverse()].join(',')];
  for (let i = 0; i < 300; i++) test.push([mnist.test.labels[i], ...pooled(mnist.test.images, i).reverse()].join(','));
  writeFileSync(path.join(dir, 'train.csv'), train.join('\n') + '\n');
  writeFileSync(path.join(dir, 'test.csv'), test.join('\r\n'));
  const csv = { train: path.join(dir, 'train.csv'), test: path.join(dir, 'test.csv'), label: 'digit' };
  const mlp = (hidden: number) => ({ kind: 'mlp', hidden: [hidden] });
  const config = {
    name: 'csv-table',
    data: { dataset: 'csv', csv: { ...csv, features: FEATURES }, normalize: 'standardize', validationSize: 200 },
    teachers: { count: 1, model: mlp(64), train: { epochs: 5, batchSize: 32 } },
    student: { model: mlp(16), train: { epochs: 5, batchSize: 32 } },
    students: [{ temperature: 3, alpha: 0.7 }],
  };
  const id = `csv-${Date.now()}`;
  const summary = (await s.client.workflow.execute('distillationPipeline', {
    taskQueue: s.queues.pipeline,
    workflowId: id,
    args: [{ config, options: { computeQueue: s.queues.compute } }],
  })) as DistillationSummary;
  for (const m of summary.models) assert.ok(m.accuracy > 0.6, `${m.name}: accuracy ${m.accuracy} on 10 classes`);

  const meta = JSON.parse(new TextDecoder().decode(await s.store.get(summary.exported!.modelJson))) as {
    userDefinedMetadata: { inputShape: number[]; features: string[]; normalization: { mean: number[] } };
  };
  assert.deepEqual(meta.userDefinedMetadata.inputShape, [1, 1, 49]);
  assert.deepEqual(meta.userDefinedMetadata.features, FEATURES);
  const rows = train.slice(1).map((r) => r.split(',').filter((_, c) => c !== 0 && c !== 21));
  const mean0 = rows.reduce((a, r) => a + Number(r[0]), 0) / rows.length;
  assert.ok(Math.abs(meta.userDefinedMetadata.normalization.mean[0]! - mean0) < 1e-4, 'mean of the training rows');

  const predicted = s.cli('predict', '--model', id, csv.test, '--json', '--limit', '1000');
  assert.equal(predicted.code, 0, predicted.err);
  const results = (JSON.parse(predicted.out) as { results: { top: { name: string }[] }[] }).results;
  const wrong = results.filter((r, i) => r.top[0]!.name !== String(mnist.test.labels[i])).length;
  const exported = summary.models.find((m) => m.name === summary.exported!.model)!;
  assert.equal(results.length, 300);
  assert.equal(wrong, exported.errors, 'predict normalises as training did: the same errors as the evaluation');

  await t.test('bad tables end the run as InvalidInput naming the field, file and line', async () => {
    const gap = train.slice(0, 50).map((r, i) => (i === 2 ? r.replace(/,[^,]*$/, ',') : r));
    writeFileSync(path.join(dir, 'gap.csv'), gap.join('\n'));
    const run = (data: object) => ({ config: { ...config, data }, options: { computeQueue: s.queues.compute } });
    await assertInvalidInputs(s, 'distillationPipeline', [
      [
        run({ dataset: 'csv', csv: { ...csv, train: path.join(dir, 'gap.csv'), features: FEATURES } }),
        /^invalid input: data\.csv\.train: .*gap\.csv: line 3, column "p48": "" is not a number/,
      ],
      [
        run({ dataset: 'csv', csv, normalize: { mean: [0, 1], std: [1] } }),
        /^invalid input: data\.csv\.train: .*train\.csv: line 2, column "id": "row0" is not a number/,
      ],
      [
        run({ dataset: 'csv', csv: { ...csv, features: FEATURES }, normalize: { mean: [0, 1], std: [1] } }),
        /^invalid input: data\.normalize\.mean: 2 values for 49 channels/,
      ],
    ]);
  });
});
