import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Rng, buildNet, initBackend, predictLogits } from '../../ml';
import type { BuiltInSpec } from '../../ml';
import type { InputShape } from '../../common/input-shape';
import { layersInference, netInference } from '../../ml/compiled-inference';
import { toLayersModel } from '../../ml/export';
import { tidyValues } from '../../ml/tidy-values';

/** The compiled path is opt-in for now (ml/compiled-step.ts COMPILED_OPT_IN). */
const ON = { CHRYSALIS_STEP: 'compiled' };

before(async () => {
  await initBackend({ requested: 'auto' });
});

const NETS: { name: string; spec: BuiltInSpec; shape: InputShape }[] = [
  {
    name: 'an MLP with dropout (off at inference)',
    spec: { kind: 'mlp', hidden: [12, 9], hiddenDropout: 0.5 },
    shape: [4, 5],
  },
  {
    name: 'a CNN on 3-channel images',
    spec: { kind: 'cnn', filters: [3, 2], dense: 6, dropout: 0.4 },
    shape: [6, 5, 3],
  },
];

for (const { name, spec, shape } of NETS) {
  test(`compiled inference gives the eager pass's logits: ${name}`, () => {
    const net = buildNet(spec, { inputShape: shape, numClasses: 4, seed: 2 });
    const rng = new Rng(3);
    const x = tf.tensor2d(
      Float32Array.from({ length: 7 * net.inputSize }, () => rng.next()),
      [7, net.inputSize],
    );
    const inference = netInference(net, ON);
    assert.equal(inference.compiled, true);
    const before = tf.memory().numTensors;
    const got = inference.forward(x);
    const want = net.forward(x);
    const [g, w] = [got.dataSync(), want.dataSync()];
    assert.deepEqual(got.shape, [7, 4]);
    w.forEach((v, i) => assert.ok(Math.abs(v - g[i]!) <= 1e-5 * (1 + Math.abs(v)), `logit ${i}: ${g[i]} vs ${v}`));
    tf.dispose([got, want]);
    assert.equal(tf.memory().numTensors, before, 'nothing left behind but what the caller disposes');
    // The session holds a copy of the weights taken when it was made.
    for (const v of net.params.values()) v.assign(tf.zerosLike(v));
    const stale = inference.forward(x);
    assert.ok(
      stale.dataSync().some((v) => v !== 0),
      'a copy, not a view, of the weights',
    );
    stale.dispose();
    inference.dispose();
    x.dispose();
    net.dispose();
  });
}

test('CHRYSALIS_STEP=eager keeps inference eager; predictLogits matches either way', async () => {
  const net = buildNet({ kind: 'mlp', hidden: [8] }, { inputShape: [2, 3], numClasses: 3, seed: 1 });
  const eager = netInference(net, { CHRYSALIS_STEP: 'eager' });
  assert.equal(eager.compiled, false);
  eager.dispose();
  const images = Uint8Array.from({ length: 25 * 6 }, (_, i) => (i * 37) % 256);
  const indices = Int32Array.from({ length: 25 }, (_, i) => 24 - i);
  const compiled = await predictLogits(net, images, [2, 3], indices, 0, 10);
  const rows = Float32Array.from(
    Array.from(indices).flatMap((r) => Array.from(images.subarray(r * 6, r * 6 + 6))),
    (v) => v / 255,
  );
  const want = tidyValues(() => net.forward(tf.tensor2d(rows, [25, 6])));
  want.forEach((v, i) => assert.ok(Math.abs(v - compiled[i]!) <= 1e-5 * (1 + Math.abs(v)), `row ${Math.floor(i / 3)}`));
  net.dispose();
});

test('a layers model runs as one call where its layers have a graph: the exports of an MLP and a CNN', () => {
  for (const { spec, shape } of NETS) {
    const net = buildNet(spec, { inputShape: shape, numClasses: 4, seed: 6 });
    const model = toLayersModel(net, shape);
    const inference = layersInference(model, ON);
    assert.equal(inference.compiled, true, `${spec.kind}: ${inference.eagerWhy}`);
    const rng = new Rng(8);
    const x = tf.tensor2d(
      Float32Array.from({ length: 5 * net.inputSize }, () => rng.next()),
      [5, net.inputSize],
    );
    const [got, want] = [inference.forward(x), model.predict(x) as tf.Tensor2D];
    const [g, w] = [got.dataSync(), want.dataSync()];
    w.forEach((v, i) => assert.ok(Math.abs(v - g[i]!) <= 1e-6, `${spec.kind} probability ${i}: ${g[i]} vs ${v}`));
    tf.dispose([x, got, want]);
    inference.dispose();
    model.dispose();
    net.dispose();
  }
});

test('a layers model with a layer that has no graph keeps tfjs predict, and says which layer', () => {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 4, inputShape: [3], name: 'first' }),
      tf.layers.batchNormalization({ name: 'norm' }),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
  const inference = layersInference(model, ON);
  assert.equal(inference.compiled, false);
  assert.equal(inference.eagerWhy, 'norm: layer BatchNormalization');
  const x = tf.ones<tf.Rank.R2>([2, 3]);
  const y = inference.forward(x);
  assert.deepEqual(y.shape, [2, 2]);
  tf.dispose([x, y]);
  const swish = tf.sequential({
    layers: [tf.layers.dense({ units: 2, inputShape: [3], activation: 'swish', name: 'sw' })],
  });
  assert.equal(layersInference(swish, ON).eagerWhy, 'sw: activation "swish"');
  model.dispose();
  swish.dispose();
});
