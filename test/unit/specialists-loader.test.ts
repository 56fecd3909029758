import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type * as Loader from '../../ml/specialists/combination-loader.mjs' with { 'resolution-mode': 'import' };
import { loaderSource } from '../../artifacts/combination-package';
import { repoRoot } from '../../config/env';
import { Rng, buildNet, encodeIdx, initBackend, loadDataset, predictLogits, train } from '../../ml';
import { exportLayersModel } from '../../ml/export';
import { buildSpecialistFrom, combinationObjective, combine } from '../../ml/specialists';
import type { SpecialistProbs } from '../../ml/specialists';

let loader: typeof Loader;
before(async () => {
  await initBackend({ requested: 'auto' });
  loader = (await import(
    pathToFileURL(path.join(repoRoot, 'dist/ml/specialists/combination-loader.mjs')).href
  )) as typeof Loader;
});

function randomDist(rng: Rng, k: number): number[] {
  const e = Array.from({ length: k }, () => Math.exp(4 * (rng.next() * 2 - 1)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test("the package loader's float64 solver reaches the same optimum as chrysalis's tensor solver", async () => {
  const rng = new Rng(17);
  const C = 10;
  const n = 200;
  const subsets = [
    [0, 1, 2],
    [3, 5, 8],
    [4, 9],
    [1, 7],
  ];
  const pg = Float32Array.from(Array.from({ length: n }, () => randomDist(rng, C)).flat());
  const specs: SpecialistProbs[] = subsets.map((subset) => ({
    subset,
    probs: Float32Array.from(Array.from({ length: n }, () => randomDist(rng, subset.length + 1)).flat()),
  }));
  const ours = await combine(pg, n, C, specs, { topN: 3 });
  const theirs = loader.combineProbabilities(pg, n, C, specs, { topN: 3 });
  assert.deepEqual(theirs.active, ours.active);
  assert.ok(
    ours.active.some((a) => a.length >= 2),
    'some inputs have several active specialists',
  );
  let worst = 0;
  for (let k = 0; k < n * C; k++) worst = Math.max(worst, Math.abs(theirs.q[k]! - ours.q[k]!));
  assert.ok(worst < 1e-4, `largest |q_loader − q_chrysalis| = ${worst}`);
  // Neither is better than the other beyond float32 noise: both sit at the minimum.
  const objLoader = combinationObjective(theirs.q, pg, n, C, specs, ours.active);
  const objOurs = combinationObjective(ours.q, pg, n, C, specs, ours.active);
  for (let i = 0; i < n; i++)
    assert.ok(objLoader[i]! <= objOurs[i]! + 1e-5, `input ${i}: loader ${objLoader[i]} vs ${objOurs[i]}`);
  // Inputs with nobody active keep the generalist's distribution bit for bit.
  const idle = ours.active.findIndex((a) => a.length === 0);
  if (idle >= 0)
    assert.deepEqual(
      Array.from(theirs.q.subarray(idle * C, idle * C + C)),
      Array.from(pg.subarray(idle * C, idle * C + C)),
    );
});

test('an exported generalist + specialists package, loaded by its own loader.mjs', async (t) => {
  const ds = await loadDataset('mnist');
  const side: [number, number] = [28, 28];
  const generalist = buildNet({ kind: 'mlp', hidden: [48] }, { inputShape: side, numClasses: 10, seed: 5 });
  await train(
    generalist,
    { images: ds.train.images, labels: ds.train.labels, side, indices: Int32Array.from({ length: 3000 }, (_, i) => i) },
    { epochs: 1, batchSize: 64, optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 }, seed: 2 },
  );
  const subsets = [
    [3, 5, 8],
    [4, 7, 9],
  ];
  const specialists = subsets.map((s, m) => buildSpecialistFrom(generalist, s, 40 + m, side));

  const dir = mkdtempSync(path.join(os.tmpdir(), 'combination-'));
  const put = async (sub: string, net: typeof generalist, classNames: string[]) => {
    const out = await exportLayersModel(net, side, { classNames });
    mkdirSync(path.join(dir, sub), { recursive: true });
    writeFileSync(path.join(dir, sub, 'model.json'), JSON.stringify(out.modelJson));
    writeFileSync(path.join(dir, sub, out.weightsFile), out.weights);
  };
  const classNames = ds.classNames.map((c) => `digit-${c}`);
  await put('generalist', generalist, classNames);
  for (const [m, net] of specialists.entries())
    await put(`specialist-${m + 1}`, net, [...subsets[m]!.map(String), 'dustbin']);
  const manifest: Loader.CombinationManifest = {
    format: 'chrysalis-combination',
    version: 1,
    classNames,
    inputShape: side,
    generalist: { path: 'generalist' },
    specialists: subsets.map((subset, m) => ({ name: `specialist-${m + 1}`, subset, path: `specialist-${m + 1}` })),
    combine: { topN: 2, maxIterations: 500, tolerance: 1e-5 },
  };
  writeFileSync(path.join(dir, 'combination.json'), JSON.stringify(manifest));
  const source = loaderSource();
  assert.doesNotMatch(source, /sourceMappingURL|require\(|^import /m, 'the shipped loader imports nothing');
  writeFileSync(path.join(dir, 'loader.mjs'), source);

  // The package's own loader (not chrysalis's module) against chrysalis's inference + combine().
  const own = (await import(pathToFileURL(path.join(dir, 'loader.mjs')).href)) as typeof Loader;
  const model = await own.loadCombination(tf, async (rel) => readFileSync(path.join(dir, rel)));
  const n = 64;
  const x = Float32Array.from(ds.test.images.subarray(0, n * 784), (v) => v / 255);
  const got = await model.predict(x);
  const indices = Int32Array.from({ length: n }, (_, i) => i);
  const softmax = (logits: Float32Array, k: number) =>
    tf.tidy(() => tf.softmax(tf.tensor2d(logits, [n, k])).dataSync() as Float32Array);
  const pg = softmax(await predictLogits(generalist, ds.test.images, side, indices), 10);
  const specs: SpecialistProbs[] = [];
  for (const [m, net] of specialists.entries())
    specs.push({
      subset: subsets[m]!,
      probs: softmax(await predictLogits(net, ds.test.images, side, indices), subsets[m]!.length + 1),
    });
  const want = await combine(pg, n, 10, specs, { topN: 2 });

  await t.test("it predicts what chrysalis's inference and combine() compute (|Δq| < 1e-4)", async () => {
    assert.deepEqual(got.active, want.active);
    assert.ok(
      want.active.some((a) => a.length > 0),
      'specialists fire on some inputs',
    );
    let worst = 0;
    for (let k = 0; k < n * 10; k++) worst = Math.max(worst, Math.abs(got.probabilities[k]! - want.q[k]!));
    assert.ok(worst < 1e-4, `largest |q_package − q_chrysalis| = ${worst}`);
  });
  await t.test('it refuses input that is not a whole number of images', async () => {
    const notWholeImages = /predict: 800 values are not a whole number of 28×28 images/;
    await assert.rejects(model.predict(x.subarray(0, 800)), notWholeImages);
  });
  await t.test(
    'chrysalis predict serves the package directory: the same top class and the specialists that fired',
    async () => {
      const imgs = path.join(dir, 'test.idx');
      writeFileSync(imgs, encodeIdx([8, 28, 28], ds.test.images.subarray(0, 8 * 784)));
      const r = spawnSync(
        process.execPath,
        [path.join(repoRoot, 'dist/cli/main.js'), 'predict', '--model', dir, imgs, '--json'],
        { encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as {
        kind: string;
        results: { top: { class: number; name: string }[]; specialists: string[] }[];
      };
      assert.equal(out.kind, 'combination');
      assert.equal(out.results.length, 8);
      out.results.forEach((res, i) => {
        const row = Array.from(want.q.subarray(i * 10, i * 10 + 10));
        assert.equal(res.top[0]!.class, row.indexOf(Math.max(...row)), `input ${i}`);
        assert.equal(res.top[0]!.name, `digit-${res.top[0]!.class}`);
        assert.deepEqual(
          res.specialists,
          want.active[i]!.map((m) => `specialist-${m + 1}`),
        );
      });
      const text = spawnSync(
        process.execPath,
        [path.join(repoRoot, 'dist/cli/main.js'), 'predict', '--model', dir, imgs, '--limit', '2'],
        { encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, /^test\.idx\[0\]: digit-\d \d+\.\d%.*\[specialists: [^\]]+\]$/m);
    },
  );
  await t.test('served over HTTP it loads from a base URL, as a browser does', async () => {
    const server = createServer((req, res) => {
      const file = path.join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (!file.startsWith(dir) || !existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const served = await own.loadCombination(tf, `http://127.0.0.1:${port}/`);
      const viaHttp = await served.predict(x);
      served.dispose();
      assert.deepEqual(Array.from(viaHttp.probabilities), Array.from(got.probabilities));
      await assert.rejects(
        own.loadCombination(tf, `http://127.0.0.1:${port}/nowhere`),
        /nowhere\/combination\.json: HTTP 404/,
      );
    } finally {
      server.close();
    }
  });
  await t.test('a package in an unknown format is refused with a clear message', async () => {
    writeFileSync(path.join(dir, 'combination.json'), JSON.stringify({ ...manifest, version: 2 }));
    await assert.rejects(
      own.loadCombination(tf, async (rel) => readFileSync(path.join(dir, rel))),
      /combination\.json: expected format "chrysalis-combination" version 1, got "chrysalis-combination" version 2/,
    );
  });
  model.dispose();
  generalist.dispose();
  specialists.forEach((s) => s.dispose());
});
