import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildNet, initBackend } from '../../ml';
import { exportLayersModel } from '../../ml/export';
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
