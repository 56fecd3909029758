import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildNet, exportWeights, importWeights, initBackend } from '../../ml';
import type { BuiltInSpec, Net } from '../../ml';
import * as sp from '../../ml/specialists';

before(async () => {
  await initBackend({ requested: 'auto' });
});

function logitsOf(net: Net, x: Float32Array, n: number): Float32Array {
  return tf.tidy(() => net.forward(tf.tensor2d(x, [n, net.inputSize])).dataSync() as Float32Array);
}

const inputs = (n: number, size: number): Float32Array =>
  Float32Array.from({ length: n * size }, (_, i) => ((i * 37) % 101) / 100);

for (const [spec, side] of [
  [{ kind: 'mlp', hidden: [8, 6] }, [4, 4]],
  [{ kind: 'cnn', filters: [2], dense: 6 }, [6, 8]],
] as Array<[BuiltInSpec, [number, number]]>) {
  test(`a ${spec.kind} specialist keeps the generalist's body and gets |S|+1 outputs`, () => {
    const C = 7;
    const subset = [1, 4, 5];
    const g = buildNet(spec, { inputShape: side, numClasses: C, seed: 4 });
    // Non-zero output biases, so the bias copy is tested too.
    const { bias } = sp.outputParamNames(g);
    const b = tf.tensor1d(Float32Array.from({ length: C }, (_, c) => c / 10 - 0.3));
    g.params.get(bias)!.assign(b);
    b.dispose();
    const before = exportWeights(g);
    const s = sp.buildSpecialistFrom(g, subset, 9, side);
    assert.equal(s.numClasses, subset.length + 1);

    const sw = exportWeights(s);
    const { weight } = sp.outputParamNames(g);
    for (const name of Object.keys(before)) {
      if (name === weight || name === bias) continue;
      assert.deepEqual(Array.from(sw[name]!.data), Array.from(before[name]!.data), `${name} differs`);
    }
    // Same body ⇒ same hidden activations ⇒ the special logits are the generalist's, exactly;
    // the dustbin starts at mean(other logits) + log(#others).
    const n = 3;
    const x = inputs(n, g.inputSize);
    const zg = logitsOf(g, x, n);
    const zs = logitsOf(s, x, n);
    const others = [0, 2, 3, 6];
    for (let i = 0; i < n; i++) {
      subset.forEach((c, j) => assert.ok(Math.abs(zs[i * 4 + j]! - zg[i * C + c]!) < 1e-5));
      const dust = others.reduce((acc, c) => acc + zg[i * C + c]!, 0) / others.length + Math.log(others.length);
      assert.ok(Math.abs(zs[i * 4 + 3]! - dust) < 1e-4, `dustbin ${zs[i * 4 + 3]} vs ${dust}`);
    }
    // The two nets do not share variables.
    s.dispose();
    assert.deepEqual(Array.from(exportWeights(g)[weight]!.data), Array.from(before[weight]!.data));
    g.dispose();
  });
}

test('specialist labels are positions in the subset, the dustbin last', () => {
  assert.deepEqual(Array.from(sp.specialistTargets([0, 5, 2, 9, 5, 7], [5, 2])), [2, 0, 1, 2, 0, 2]);
});

/** 1000 examples, 10 classes × 100; S = {2, 5} is 20 % of them. */
const labels = Uint8Array.from({ length: 1000 }, (_, i) => i % 10);
const pool = Int32Array.from({ length: 1000 }, (_, i) => i);
const subset = [2, 5];
const inS = (i: number): boolean => subset.includes(labels[i]!);

test('sampling draws half from S and reports the oversampling it did', () => {
  for (const size of [400, 401, 1500]) {
    const s = sp.sampleSpecialistIndices(labels, pool, subset, { seed: 3, size });
    assert.equal(s.indices.length, size);
    const special = Array.from(s.indices).filter(inS).length;
    assert.equal(special, s.specialCount);
    assert.ok(Math.abs(special - size / 2) <= 1, `${special} of ${size}`);
    assert.equal(s.naturalFraction, 0.2);
    assert.equal(s.trainFraction, special / size);
    assert.ok(Math.abs(s.oversampling - special / size / 0.2) < 1e-12);
    const odds = (p: number): number => p / (1 - p);
    assert.ok(Math.abs(s.correctionFactor - odds(special / size) / odds(0.2)) < 1e-12);
  }
  // Default size: every special example once, as many distinct others.
  const d = sp.sampleSpecialistIndices(labels, pool, subset, { seed: 3 });
  assert.equal(d.indices.length, 400);
  assert.equal(new Set(d.indices).size, 400);
  assert.deepEqual(
    Array.from(d.indices)
      .filter(inS)
      .sort((a, b) => a - b),
    Array.from(pool).filter(inS),
  );
  // Deterministic for a seed, different across seeds.
  assert.deepEqual(sp.sampleSpecialistIndices(labels, pool, subset, { seed: 3 }).indices, d.indices);
  assert.notDeepEqual(sp.sampleSpecialistIndices(labels, pool, subset, { seed: 4 }).indices, d.indices);
});

test('the dustbin correction turns oversampled posteriors back into natural ones', () => {
  const sampling = sp.sampleSpecialistIndices(labels, pool, subset, { seed: 1 });
  const pi = sampling.naturalFraction;
  const piT = sampling.trainFraction;
  // Natural posteriors over (class 2, class 5, dustbin) for three inputs.
  const natural = [
    [0.7, 0.2, 0.1],
    [0.05, 0.05, 0.9],
    [0.3, 0.3, 0.4],
  ];
  // Training on the resampled data reweights special classes by π′/π and the rest by (1−π′)/(1−π).
  const biased = natural.map(([a, b, d]) => [
    Math.log((a! * piT) / pi),
    Math.log((b! * piT) / pi),
    Math.log((d! * (1 - piT)) / (1 - pi)),
  ]);
  // A net whose logits are exactly `biased` for each input: one linear layer, one-hot inputs.
  const net = buildNet({ kind: 'mlp', hidden: [] }, { inputShape: [1, 3], numClasses: 3, seed: 1 });
  importWeights(net, {
    w0: { dtype: 'float32', shape: [3, 3], data: Float32Array.from(biased.flat()) },
    b0: { dtype: 'float32', shape: [3], data: new Float32Array(3) },
  });
  const probs = (): number[][] => tf.tidy(() => tf.softmax(net.forward(tf.eye(3))).arraySync());
  const gap = (p: number[][]): number =>
    Math.max(...p.flatMap((row, i) => row.map((v, j) => Math.abs(v - natural[i]![j]!))));
  assert.ok(gap(probs()) > 0.1, 'the oversampling bias should be visible before correction');

  sp.applyDustbinCorrection(net, sampling.correctionFactor);
  assert.ok(gap(probs()) < 1e-5, `corrected: ${JSON.stringify(probs())}`);
  // The literal reading (log of π′/π alone) leaves a visible error.
  sp.applyDustbinCorrection(net, 1 / sampling.correctionFactor);
  sp.applyDustbinCorrection(net, sampling.oversampling);
  assert.ok(gap(probs()) > 0.05);
  assert.equal(sp.dustbinCorrection(Math.E), 1);
  net.dispose();
});

test('trainSpecialist trains on remapped labels and corrects the dustbin once, at the end', async () => {
  const side: [number, number] = [4, 4];
  const n = 200;
  const lab = Uint8Array.from({ length: n }, (_, i) => i % 5);
  // Class c lights pixel row c: learnable in a few steps.
  const images = Uint8Array.from({ length: n * 16 }, (_, k) =>
    Math.floor((k % 16) / 4) === lab[Math.floor(k / 16)]! % 4 ? 220 : 10,
  );
  const g = buildNet({ kind: 'mlp', hidden: [8] }, { inputShape: side, numClasses: 5, seed: 2 });
  const data = { images, labels: lab, side, pool: Int32Array.from({ length: n }, (_, i) => i) };
  const cfg = { epochs: 0, batchSize: 20, optimizer: { kind: 'sgd' as const, learningRate: 0.1 }, seed: 5 };

  const untrained = await sp.trainSpecialist(g, data, [1, 2], cfg);
  const init = sp.buildSpecialistFrom(g, [1, 2], 0, side);
  const dust = (net: Net): number => exportWeights(net)['b1']!.data[2]!;
  assert.ok(Math.abs(dust(untrained.net) - dust(init) - Math.log(untrained.sampling.correctionFactor)) < 1e-5);

  const trained = await sp.trainSpecialist(g, data, [1, 2], { ...cfg, epochs: 2 });
  assert.equal(trained.history.length, 2);
  assert.ok(trained.history[1]!.trainAccuracy > 0.9, `accuracy ${trained.history[1]!.trainAccuracy}`);
  assert.equal(trained.net.numClasses, 3);
  assert.equal(trained.sampling.indices.length, 160);
  [untrained.net, init, trained.net, g].forEach((net) => net.dispose());
});
