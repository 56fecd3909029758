/**
 * A user's own images: a folder of RGB PNGs (MNIST digits 0-2, coloured and written at 28×28), read as
 * 32×32×3 by `dataset: "images"`, distilled end to end on the real stack; the export and `predict` take
 * the colour shape, and predict resizes a PNG of another size.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../ml';
import type { DistillationSummary } from '../../workflows';
import { userDataDir, withStack } from '../helpers/stack';

interface TfNodeTest {
  node: { encodePng(t: unknown): Promise<Uint8Array> };
  tensor3d(v: Uint8Array, shape: [number, number, number], dtype: 'int32'): { dispose(): void };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tfn = require('@tensorflow/tfjs-node') as TfNodeTest;
const CLASSES = ['zero', 'one', 'two'];

/** A 28×28 grey digit as an RGB PNG whose colour depends on the class: the data has real channels. */
async function colouredPng(grey: Uint8Array, label: number): Promise<Uint8Array> {
  const tint = [
    [1, 0.3, 0.3],
    [0.3, 1, 0.3],
    [0.3, 0.3, 1],
  ][label]!;
  const rgb = Uint8Array.from({ length: 28 * 28 * 3 }, (_, i) => Math.round(grey[Math.floor(i / 3)]! * tint[i % 3]!));
  const t = tfn.tensor3d(rgb, [28, 28, 3], 'int32');
  const bytes = await tfn.node.encodePng(t);
  t.dispose();
  return bytes;
}

async function writeFolder(root: string, split: 'train' | 'test', images: Uint8Array, labels: Uint8Array, per: number) {
  const seen = [0, 0, 0];
  for (let i = 0; i < labels.length && seen.some((n) => n < per); i++) {
    const l = labels[i]!;
    if (l > 2 || seen[l]! >= per) continue;
    const dir = path.join(root, split, CLASSES[l]!);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${i}.png`), await colouredPng(images.subarray(i * 784, (i + 1) * 784), l));
    seen[l]!++;
  }
}

test('an RGB image-folder run: 32×32×3 from PNG folders, distilled, exported and predicted', async (t) => {
  const s = await withStack(t, 'images');
  const mnist = await loadDataset('mnist');
  const root = userDataDir('images');
  await writeFolder(root, 'train', mnist.train.images, mnist.train.labels, 300);
  await writeFolder(root, 'test', mnist.test.images, mnist.test.labels, 60);
  const config = {
    name: 'rgb-folders',
    data: {
      dataset: 'images',
      images: { train: path.join(root, 'train'), test: path.join(root, 'test'), inputShape: [32, 32, 3] },
      validationSize: 90,
    },
    teachers: { count: 1, model: { kind: 'cnn', filters: [8], dense: 32 }, train: { epochs: 3, batchSize: 32 } },
    student: { model: { kind: 'mlp', hidden: [32] }, train: { epochs: 3, batchSize: 32 } },
    students: [{ temperature: 4, alpha: 0.7 }],
  };
  const id = `images-${Date.now()}`;
  const summary = (await s.client.workflow.execute('distillationPipeline', {
    taskQueue: s.queues.pipeline,
    workflowId: id,
    args: [{ config, options: { computeQueue: s.queues.compute } }],
  })) as DistillationSummary;
  assert.deepEqual(
    summary.models.map((m) => m.role),
    ['teacher', 'baseline', 'student'],
  );
  for (const m of summary.models) assert.ok(m.accuracy > 0.6, `${m.name}: accuracy ${m.accuracy} on 3 classes`);
  const modelJson = JSON.parse(new TextDecoder().decode(await s.store.get(summary.exported!.modelJson))) as {
    userDefinedMetadata: { inputShape: number[]; classNames: string[] };
  };
  assert.deepEqual(modelJson.userDefinedMetadata.inputShape, [32, 32, 3]);
  assert.deepEqual(modelJson.userDefinedMetadata.classNames, CLASSES);
  // predict takes a PNG of another size (28×28 here) and resizes it to the stored 32×32×3.
  const probe = path.join(root, 'probe.png');
  const twoAt = mnist.test.labels.findIndex((l) => l === 2);
  writeFileSync(probe, await colouredPng(mnist.test.images.subarray(twoAt * 784, (twoAt + 1) * 784), 2));
  const predicted = s.cli('predict', '--model', id, probe, '--json');
  assert.equal(predicted.code, 0, predicted.err);
  const p = JSON.parse(predicted.out) as { results: { top: { name: string }[] }[] };
  assert.equal(p.results[0]!.top[0]!.name, 'two');
});
