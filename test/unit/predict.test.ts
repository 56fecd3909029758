import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import type * as TfNode from '@tensorflow/tfjs-node';
import { repoRoot } from '../../config/env';
import { buildNet, encodeIdx, initBackend, loadDataset, train } from '../../ml';
import { exportLayersModel } from '../../ml/export';

before(async () => {
  await initBackend({ requested: 'tensorflow' });
});

test('chrysalis predict classifies PNG and IDX inputs with an exported model', async () => {
  const ds = await loadDataset('mnist');
  const net = buildNet({ kind: 'mlp', hidden: [64] }, { inputShape: [28, 28], numClasses: 10, seed: 3 });
  await train(
    net,
    {
      images: ds.train.images,
      labels: ds.train.labels,
      side: [28, 28],
      indices: Int32Array.from({ length: 6000 }, (_, i) => i),
    },
    { epochs: 2, batchSize: 64, optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 }, seed: 1 },
  );
  const exported = await exportLayersModel(net, [28, 28], { classNames: ds.classNames.map((c) => `digit-${c}`) });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'predict-'));
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(exported.modelJson));
  writeFileSync(path.join(dir, exported.weightsFile), exported.weights);
  // Test image 0 is a 7, image 1 a 2: one as PNG, the first 20 as an IDX file.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tfn = require('@tensorflow/tfjs-node') as typeof TfNode;
  const png = await tfn.node.encodePng(tfn.tensor3d(ds.test.images.subarray(0, 784), [28, 28, 1], 'int32'));
  writeFileSync(path.join(dir, 'seven.png'), png);
  writeFileSync(path.join(dir, 'test.idx'), encodeIdx([20, 28, 28], ds.test.images.subarray(0, 20 * 784)));

  const r = spawnSync(
    process.execPath,
    [
      path.join(repoRoot, 'dist/cli/main.js'),
      'predict',
      '--model',
      dir,
      path.join(dir, 'seven.png'),
      path.join(dir, 'test.idx'),
      '--json',
      '--limit',
      '20',
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    results: { input: string; top: { class: number; name: string; probability: number }[] }[];
  };
  assert.equal(out.results.length, 21);
  assert.equal(out.results[0]!.input, 'seven.png');
  assert.equal(out.results[0]!.top[0]!.name, 'digit-7');
  assert.equal(out.results[0]!.top.length, 3);
  const correct = out.results.slice(1).filter((res, i) => res.top[0]!.class === ds.test.labels[i]).length;
  assert.ok(correct >= 16, `${correct}/20 IDX images classified correctly`);
  const sum = out.results[0]!.top.reduce((a, t) => a + t.probability, 0);
  assert.ok(sum <= 1 + 1e-6 && out.results[0]!.top[0]!.probability >= out.results[0]!.top[1]!.probability);

  const text = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'dist/cli/main.js'), 'predict', '--model', dir, path.join(dir, 'seven.png')],
    { encoding: 'utf8' },
  );
  assert.match(text.stdout, /^seven\.png: digit-7 \d+\.\d%/);
  const bad = spawnSync(process.execPath, [path.join(repoRoot, 'dist/cli/main.js'), 'predict', '--model', dir], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  net.dispose();
});
