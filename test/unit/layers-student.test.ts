/**
 * A layers topology of your own as the student (ml/layers-net.ts, activities/student-import.ts), below Temporal:
 * Keras-style topologies train with chrysalis's loop, resume bit-identically from a stored checkpoint, export to
 * a model plain tfjs loads with the same probabilities; the importStudent activity names a topology by its bytes
 * and refuses what cannot be trained as InvalidInput naming `student.model.topology` and both shapes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createComputeActivities } from '../../activities/compute';
import { loadCheckpoint, loadNet, readManifest, saveCheckpoint } from '../../artifacts/models';
import { modelDigest } from '../../artifacts/digests';
import type { TrainRequest } from '../../contracts/exchange';
import { describeArchitecture } from '../../common/architecture';
import { keys } from '../../common/store-keys';
import { createLogger } from '../../config';
import { resolveDistillationInput, resolveSearchInput } from '../../config/resolve';
import { buildNet, exportWeights, initBackend, train } from '../../ml';
import type { InMemoryExamples, Net, TrainConfig, TrainData, TrainSnapshot } from '../../ml';
import type { BackendInfo } from '../../ml/backend';
import { exportLayersModel } from '../../ml/export';
import { buildLayersNet, TopologyError } from '../../ml/layers-net';
import type { InputShape } from '../../common/input-shape';
import { sha256Hex } from '../../storage/hash';
import { LocalArtifactStore } from '../../storage/local-store';
import { rejectsInvalid } from '../helpers/assertions';
import { runPlainTfjs } from '../helpers/plain-tfjs';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

const tmp = (name: string) => mkdtempSync(path.join(os.tmpdir(), `${name}-`));

type Layer = { class_name: string; config: Record<string, unknown> };

const glorot = { class_name: 'GlorotUniform', config: { seed: null } };

/** A Keras 2 Dense layer as tensorflowjs_converter writes it. */
const dense = (name: string, units: number, activation: string, more: Record<string, unknown> = {}): Layer => ({
  class_name: 'Dense',
  config: {
    name,
    trainable: true,
    dtype: 'float32',
    units,
    activation,
    use_bias: true,
    kernel_initializer: glorot,
    bias_initializer: { class_name: 'Zeros', config: {} },
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    bias_constraint: null,
    ...more,
  },
});

/** A Keras-style layers model.json: an InputLayer, the layers, and a weights manifest that must be ignored. */
function keras(input: number[], layers: Layer[], className = 'Sequential'): Record<string, unknown> {
  const inputLayer = {
    class_name: 'InputLayer',
    config: { batch_input_shape: [null, ...input], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' },
  };
  return {
    format: 'layers-model',
    generatedBy: 'keras v2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: {
      keras_version: '2.15.0',
      backend: 'tensorflow',
      model_config: { class_name: className, config: { name: 'student', layers: [inputLayer, ...layers] } },
    },
    weightsManifest: [{ paths: ['no-such-shard.bin'], weights: [] }],
  };
}

/** Dense 32 relu → Dropout → Dense `classes` softmax on flattened inputs. */
const mlpTopology = (inputs: number, classes: number) =>
  keras(
    [inputs],
    [
      dense('hidden', 32, 'relu'),
      { class_name: 'Dropout', config: { name: 'drop', rate: 0.2 } },
      dense('out', classes, 'softmax'),
    ],
  );

/** Conv2D 3×3 same relu → MaxPooling2D → Flatten → Dense logits, on [h, w, c] images. */
const cnnTopology = (shape: number[], classes: number) =>
  keras(shape, [
    {
      class_name: 'Conv2D',
      config: {
        name: 'conv',
        filters: 4,
        kernel_size: [3, 3],
        padding: 'same',
        activation: 'relu',
        kernel_initializer: { class_name: 'HeNormal', config: { seed: null } },
      },
    },
    { class_name: 'MaxPooling2D', config: { name: 'pool', pool_size: [2, 2] } },
    { class_name: 'Flatten', config: { name: 'flat' } },
    dense('logits', classes, 'linear'),
  ]);

/** `classes` bands of columns; images of class c are bright in band c (any channel count). */
function bands(n: number, side: InputShape, classes: number): TrainData & InMemoryExamples {
  const [h, w, c = 1] = side;
  const images = new Uint8Array(n * h * w * c);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % classes;
    for (let p = 0; p < h * w * c; p++) {
      const x = Math.floor(p / c) % w;
      const bright = Math.floor((x * classes) / w) === labels[i];
      images[i * h * w * c + p] = bright ? 180 + ((i * 7 + p) % 70) : (i * 13 + p) % 50;
    }
  }
  return { images, labels, side, indices: Int32Array.from({ length: n }, (_, i) => i) };
}

const recipe: TrainConfig = {
  epochs: 3,
  batchSize: 16,
  optimizer: { kind: 'adam', learningRate: 0.01 },
  seed: 5,
};

const spec = (sha = 'a'.repeat(64)) => ({ kind: 'layers' as const, topology: '/data/student/model.json', sha256: sha });

const flat = (net: Net) => Object.values(exportWeights(net)).flatMap((t) => Array.from(t.data));

test('a Keras-style Dense 32 relu → Dense softmax topology trains with our loop; one seed, one init', async () => {
  const opts = { inputShape: [8, 8] as InputShape, numClasses: 4, seed: 3 };
  const a = await buildLayersNet(spec(), mlpTopology(64, 4), opts);
  const b = await buildLayersNet(spec(), mlpTopology(64, 4), opts);
  const c = await buildLayersNet(spec(), mlpTopology(64, 4), { ...opts, seed: 4 });
  assert.deepEqual([...a.params.keys()], ['p0', 'p1', 'p2', 'p3'], 'trainable weights in layer order');
  assert.deepEqual(flat(a), flat(b), 'the same seed gives the same initial weights (in one process: fresh names)');
  assert.notDeepEqual(flat(a), flat(c), 'another seed, other weights');
  const x = tf.div<tf.Tensor2D>(tf.tensor2d(bands(3, [8, 8], 4).images, [3, 64]), 255);
  const logits = a.forward(x);
  const sums = tf.sum(logits, 1).arraySync() as number[];
  assert.ok(
    sums.some((s) => Math.abs(s - 1) > 1e-3),
    'forward returns logits, not probabilities (the softmax is taken off)',
  );
  const history = await train(a, bands(128, [8, 8], 4), recipe);
  assert.ok(history[2]!.trainAccuracy > 0.9, `accuracy ${history[2]!.trainAccuracy}`);
  assert.ok(history[2]!.loss < history[0]!.loss, 'the loss falls');
  [a, b, c].forEach((n) => n.dispose());
});

test('a Conv2D + Flatten topology on [h, w, c] images trains, and its export predicts in plain tfjs', async () => {
  const side: InputShape = [6, 6, 3];
  const net = await buildLayersNet(spec(), cnnTopology([6, 6, 3], 3), { inputShape: side, numClasses: 3, seed: 1 });
  const history = await train(net, bands(96, side, 3), recipe);
  assert.ok(history[2]!.trainAccuracy > 0.9, `accuracy ${history[2]!.trainAccuracy}`);
  const rows = bands(4, side, 3);
  const x = Array.from({ length: 4 }, (_, r) =>
    Array.from(rows.images.subarray(r * 108, (r + 1) * 108), (v) => v / 255),
  );
  const ours = tf.softmax(net.forward(tf.tensor2d(x))).arraySync();
  const exported = await exportLayersModel(net, side, { classNames: ['a', 'b', 'c'] });
  const dir = tmp('layers-export');
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(exported.modelJson));
  writeFileSync(path.join(dir, exported.weightsFile), exported.weights);
  writeFileSync(path.join(dir, 'x.json'), JSON.stringify(x));
  const theirs = runPlainTfjs<{ backend: string; probs: number[][] }>(dir, 'predict', path.join(dir, 'x.json'));
  assert.equal(theirs.backend, 'cpu', 'loaded by plain tfjs');
  theirs.probs.forEach((row, i) => row.forEach((p, j) => assert.ok(Math.abs(p - ours[i]![j]!) < 1e-5, `${i},${j}`)));
  const layers = (exported.modelJson['modelTopology'] as { config: { layers: Layer[] } }).config.layers;
  assert.deepEqual(
    layers.map((l) => `${l.class_name}:${String(l.config['name'])}`),
    ['Reshape:image', 'Conv2D:conv', 'MaxPooling2D:pool', 'Flatten:flat', 'Dense:logits', 'Activation:probabilities'],
    'the topology itself, fed flattened pixels, with a softmax output',
  );
  net.dispose();
});

test('resuming a layers student from a stored checkpoint gives bit-identical parameters (with dropout)', async () => {
  const store = new LocalArtifactStore(tmp('layers-ckpt'));
  const opts = { inputShape: [8, 8] as InputShape, numClasses: 4, seed: 9 };
  const data = bands(80, [8, 8], 4);
  const full = await buildLayersNet(spec(), mlpTopology(64, 4), opts);
  let snap: TrainSnapshot | undefined;
  await train(full, data, recipe, {
    onEpochEnd: async (s, take) => {
      if (s.epoch === 1) snap = take();
    },
  });
  const stored = await loadCheckpoint(store, await saveCheckpoint(store, 'layers-digest', snap!));
  const resumed = await buildLayersNet(spec(), mlpTopology(64, 4), { ...opts, seed: 123 });
  await train(resumed, data, recipe, {}, stored);
  assert.deepEqual(flat(resumed), flat(full));
  const x = tf.ones<tf.Rank.R2>([2, 64]);
  const masks = [0, 1].map(() => full.forward(x, { training: true }).arraySync());
  assert.notDeepEqual(masks[0], masks[1], 'dropout draws a new mask per training pass');
  full.dispose();
  resumed.dispose();
});

test('a chrysalis export is itself a topology a student can take (its softmax taken off, re-made)', async () => {
  const mlp = buildNet({ kind: 'mlp', hidden: [16] }, { inputShape: [8, 8], numClasses: 4, seed: 2 });
  const exported = await exportLayersModel(mlp, [8, 8], {});
  mlp.dispose();
  const net = await buildLayersNet(spec(), exported.modelJson, { inputShape: [8, 8], numClasses: 4, seed: 2 });
  const names = net.exportModel!.layers.map((l) => l.name);
  assert.deepEqual(names, ['dense_0', 'probabilities', 'probabilities_1']);
  net.dispose();
});

test('topologies that cannot be trained are refused by ml/ with what is wrong', async () => {
  const opts = { inputShape: [8, 8] as InputShape, numClasses: 4, seed: 1 };
  const refused = (json: unknown, re: RegExp) =>
    assert.rejects(buildLayersNet(spec(), json, opts), (e: Error) => {
      assert.ok(e instanceof TopologyError, e.message);
      assert.match(e.message, re);
      return true;
    });
  await refused(keras([64], [dense('out', 4, 'sigmoid')]), /last layer's activation is "sigmoid": it must be softmax/);
  await refused(keras([64], [dense('out', 4, 'softmax')], 'Functional'), /only Sequential topologies.*"Functional"/);
  await refused(
    keras([64], [dense('out', 4, 'softmax', { kernel_regularizer: { class_name: 'L2' } })]),
    /kernel_regularizer is not applied/,
  );
  await refused(
    keras([64], [{ class_name: 'LSTM', config: { name: 'rnn', units: 4 } }]),
    /layer 1 \(LSTM "rnn"\) is not supported/,
  );
  await refused({ format: 'graph-model', modelTopology: { node: [] } }, /a graph model has no layers to train/);
  await refused({ weightsManifest: [] }, /no modelTopology/);
});

/** Compute activities on a local store with the temp dir as the data root, and a small MNIST plan. */
async function setup(limits?: { maxParameters: number; maxActivationBytes: number }) {
  const store = new LocalArtifactStore(tmp('student-store'));
  const logger = createLogger({ name: 't', level: 'silent' });
  const compute = createComputeActivities({
    store,
    logger,
    backend,
    dataRoots: [os.tmpdir()],
    ...(limits ? { limits } : {}),
  });
  const data = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 200, trainLimit: 400 },
    transfer: { kind: 'full' },
    seed: 3,
  });
  return { store, compute, data };
}

/** Writes a model.json (an object as JSON, or text as it is) into a fresh temp dir; returns its path. */
function writeTopology(json: unknown): string {
  const file = path.join(tmp('student-topology'), 'model.json');
  writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
  return file;
}

const recipeOf = (s: TrainRequest['spec'], data: TrainRequest['data']) => ({
  data,
  split: 'transfer' as const,
  spec: s,
  train: {
    epochs: 1,
    batchSize: 32,
    optimizer: { kind: 'sgd' as const, learningRate: 0.1 },
    lrSchedule: { kind: 'constant' as const },
    jitter: 0,
  },
  seed: 7,
});

test('importStudent names a topology by its bytes: same bytes, same digest; one changed byte, another', async () => {
  const { store, compute, data } = await setup();
  const text = JSON.stringify(mlpTopology(784, 10));
  const first = await compute.importStudent({
    spec: { kind: 'layers', topology: writeTopology(text) },
    data,
    batchSize: 32,
  });
  assert.equal(first.spec.sha256, sha256Hex(new TextEncoder().encode(text)), 'the sha256 of the file itself');
  assert.equal(first.parameters, 784 * 32 + 32 + 32 * 10 + 10);
  const stored = await store.get(keys.studentTopology(first.spec.sha256));
  assert.equal(new TextDecoder().decode(stored), text, 'stored as it was read, under imports/<sha256>/');
  const elsewhere = await compute.importStudent({
    spec: { kind: 'layers', topology: writeTopology(text) },
    data,
    batchSize: 32,
  });
  assert.equal(
    modelDigest(recipeOf(elsewhere.spec, data)),
    modelDigest(recipeOf(first.spec, data)),
    'the path is not in it',
  );
  const changed = text.replace('"hidden"', '"hiddeN"');
  assert.equal(changed.length, text.length);
  const other = await compute.importStudent({
    spec: { kind: 'layers', topology: writeTopology(changed) },
    data,
    batchSize: 32,
  });
  assert.notEqual(other.spec.sha256, first.spec.sha256);
  assert.notEqual(modelDigest(recipeOf(other.spec, data)), modelDigest(recipeOf(first.spec, data)));
  assert.throws(() => modelDigest(recipeOf({ kind: 'layers', topology: '/x/model.json' }, data)), /no sha256/);
  assert.equal(describeArchitecture(first.spec), `layers model.json ${first.spec.sha256.slice(0, 8)}`);

  // Trained by trainModel like any student: the topology read back from the store by its sha256.
  const trained = await compute.trainModel({ name: 'baseline-hard', role: 'baseline', ...recipeOf(first.spec, data) });
  const net = await loadNet(store, await readManifest(store, trained.model.manifest.key));
  assert.equal(net.params.size, 4);
  assert.deepEqual(trained.model.spec, first.spec);
  net.dispose();
});

test('bad topologies fail importStudent as InvalidInput naming student.model.topology and both shapes', async () => {
  const { compute, data } = await setup();
  const one = (json: unknown, more: { sha256?: string } = {}) =>
    compute.importStudent({ spec: { kind: 'layers', topology: writeTopology(json), ...more }, data, batchSize: 32 });
  await rejectsInvalid(
    one(mlpTopology(784, 5)),
    /student\.model\.topology: .*model\.json: output shape \[\?, 5\] does not match the data's 10 classes \(\[\?, 10\]\)/,
  );
  await rejectsInvalid(
    one(mlpTopology(100, 10)),
    new RegExp(
      String.raw`student\.model\.topology: .*model\.json: input shape \[100\] does not match the data's images \[28, 28\] ` +
        String.raw`\(a student may take \[784\] or \[28, 28, 1\] or \[28, 28\]\)`,
    ),
  );
  await one(cnnTopology([28, 28, 1], 10)); // grey data taken as [H, W, 1]
  await rejectsInvalid(one(cnnTopology([32, 32, 3], 10)), /input shape \[32, 32, 3\] does not match the data's images/);
  await rejectsInvalid(one('{"modelTopology": '), /student\.model\.topology: .*model\.json: model\.json is not JSON/);
  const withBatchNorm = keras(
    [784],
    [dense('h', 8, 'relu'), { class_name: 'BatchNormalization', config: { name: 'bn' } }, dense('out', 10, 'softmax')],
  );
  await rejectsInvalid(
    one(withBatchNorm),
    /student\.model\.topology: .*model\.json: layer 2 \(BatchNormalization "bn"\): BatchNormalization keeps moving statistics/,
  );
  await rejectsInvalid(
    one(mlpTopology(784, 10), { sha256: '0'.repeat(64) }),
    /student\.model\.sha256: .* has sha256 [0-9a-f]{64}, not the pinned 0{64}/,
  );
  await rejectsInvalid(
    compute.importStudent({ spec: { kind: 'layers', topology: '/etc/model.json' }, data, batchSize: 32 }),
    /student\.model\.topology: .*\/etc\/model\.json/,
  );
  const small = await setup({ maxParameters: 1000, maxActivationBytes: 2 ** 30 });
  await rejectsInvalid(
    small.compute.importStudent({
      spec: { kind: 'layers', topology: writeTopology(mlpTopology(784, 10)) },
      data: small.data,
      batchSize: 32,
    }),
    /student\.model: the model has 25,450 parameters .* over the limit of 1,000/,
  );
});

test('config: a layers student parses (the search and teachers refuse one by name)', () => {
  const base = {
    preset: 'mnist-quick',
    overrides: { student: { model: { kind: 'layers', topology: '/data/s/model.json' } } },
  };
  const ok = resolveDistillationInput(base);
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.issues));
  assert.deepEqual(ok.config.student.model, { kind: 'layers', topology: '/data/s/model.json' });
  const bad = (r: ReturnType<typeof resolveDistillationInput>) =>
    r.ok ? '' : r.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
  assert.match(
    bad(
      resolveDistillationInput({
        preset: 'mnist-quick',
        overrides: { student: { model: { kind: 'layers', topology: 'rel/model.json' } } },
      }),
    ),
    /student\.model\.topology: not a valid topology reference: a local path must be absolute/,
  );
  assert.match(
    bad(
      resolveDistillationInput({
        preset: 'mnist-quick',
        overrides: { student: { model: { kind: 'layers', topology: '/m.json', sha256: 'xyz' } } },
      }),
    ),
    /student\.model\.sha256: expected the 64 lower-case hex digits/,
  );
  assert.match(
    bad(
      resolveDistillationInput({
        preset: 'mnist-quick',
        overrides: { teachers: { model: { kind: 'layers', topology: '/m.json' } } },
      }),
    ),
    /teachers\.model\.kind/,
  );
  const search = resolveSearchInput({
    preset: 'mnist-search',
    overrides: { space: { models: [{ kind: 'layers', topology: '/m.json' }] } },
  });
  assert.ok(!search.ok);
  assert.match(
    search.issues.map((i) => `${i.path}: ${i.message}`).join('\n'),
    /space\.models\.0\.kind: a layers topology cannot be a search candidate/,
  );
});
