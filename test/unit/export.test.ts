import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildNet, initBackend } from '../../ml';
import { fillBatch } from '../../ml/batches';
import { exportLayersModel } from '../../ml/export';
import type { Rng } from '../../ml/rng';
import { runPlainTfjs } from '../helpers/plain-tfjs';

before(async () => {
  await initBackend({ requested: 'auto' });
});

for (const spec of [
  { kind: 'mlp' as const, hidden: [32, 16] },
  { kind: 'cnn' as const, filters: [4, 8], dense: 16 },
]) {
  test(`exported ${spec.kind} loads with plain @tensorflow/tfjs and predicts what chrysalis predicts`, async () => {
    const net = buildNet(spec, { inputShape: [28, 28], numClasses: 10, seed: 7 });
    const x = Array.from({ length: 3 }, (_, r) =>
      Array.from({ length: 784 }, (_, i) => ((i * 31 + r * 17) % 255) / 255),
    );
    const ours = tf.softmax(net.forward(tf.tensor2d(x))).arraySync();
    const exported = await exportLayersModel(net, [28, 28], {
      classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'],
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'export-'));
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(exported.modelJson));
    writeFileSync(path.join(dir, exported.weightsFile), exported.weights);
    writeFileSync(path.join(dir, 'x.json'), JSON.stringify(x));
    const theirs = runPlainTfjs<{ backend: string; probs: number[][]; meta: { classNames: string[] } }>(
      dir,
      'predict',
      path.join(dir, 'x.json'),
    );
    assert.equal(theirs.backend, 'cpu', 'loaded by plain tfjs, not the native backend');
    assert.equal(theirs.meta.classNames[9], 'j');
    theirs.probs.forEach((row, i) =>
      row.forEach((v, j) =>
        assert.ok(Math.abs(v - ours[i]![j]!) < 1e-4, `row ${i} class ${j}: ${v} vs ${ours[i]![j]}`),
      ),
    );
    net.dispose();
  });
}

test('colour inputs: an RGB CNN and MLP train on HWC rows, and export with the same channels', async () => {
  const x = Array.from({ length: 2 }, (_, r) =>
    Array.from({ length: 12 * 12 * 3 }, (_, i) => ((i * 7 + r) % 255) / 255),
  );
  for (const spec of [
    { kind: 'cnn' as const, filters: [4], dense: 8 },
    { kind: 'mlp' as const, hidden: [16] },
  ]) {
    const net = buildNet(spec, { inputShape: [12, 12, 3], numClasses: 3, seed: 3 });
    assert.equal(net.inputSize, 432);
    const ours = tf.softmax(net.forward(tf.tensor2d(x))).arraySync();
    const exported = await exportLayersModel(net, [12, 12, 3], { classNames: ['r', 'g', 'b'] });
    const json = exported.modelJson as { userDefinedMetadata: { input: string }; modelTopology: unknown };
    assert.match(json.userDefinedMetadata.input, /rows\*cols\*channels.*HWC/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'export-rgb-'));
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(exported.modelJson));
    writeFileSync(path.join(dir, exported.weightsFile), exported.weights);
    writeFileSync(path.join(dir, 'x.json'), JSON.stringify(x));
    const theirs = runPlainTfjs<{ probs: number[][] }>(dir, 'predict', path.join(dir, 'x.json'));
    theirs.probs.forEach((row, i) =>
      row.forEach((v, j) => assert.ok(Math.abs(v - ours[i]![j]!) < 1e-4, `${spec.kind} row ${i}: ${v}`)),
    );
    net.dispose();
  }
});

test('fillBatch jitters every channel of an HWC image by the same shift', () => {
  // A 3×3 image with 2 channels: channel 0 holds 10·y + x, channel 1 holds 100 + 10·y + x.
  const img = Uint8Array.from(
    { length: 18 },
    (_, i) => (i % 2) * 100 + 10 * Math.floor(i / 6) + (Math.floor(i / 2) % 3),
  );
  const out = new Float32Array(18);
  const rng = { int: () => 1 } as unknown as Rng; // dx = dy = 1: each pixel comes from (y − 1, x − 1)
  fillBatch(img, [3, 3, 2], [0], 0, 1, out, 1, rng);
  const at = (y: number, x: number, c: number) => Math.round(out[(y * 3 + x) * 2 + c]! * 255);
  assert.deepEqual([at(0, 0, 0), at(0, 0, 1)], [0, 0], 'shifted in from outside: zero fill');
  assert.deepEqual([at(1, 1, 0), at(1, 1, 1)], [0, 100], 'from (0, 0)');
  assert.deepEqual([at(2, 2, 0), at(2, 2, 1)], [11, 111], 'from (1, 1)');
});
