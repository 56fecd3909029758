/**
 * A layers net's compiled step (ml/graph/layers-train-graph.ts) against its eager step (ml/train-step.ts, tfjs's
 * tape): the same weights, slots and losses within float rounding for Dense, Conv2D, pooling, Reshape/Flatten and
 * each activation's gradient; with Dropout (whose masks differ from the eager path's by design), one seed, one run,
 * and a resume equal to the uninterrupted run bit for bit; layers with no graph keep the eager path, saying which.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Optimizer, Rng, exportWeights, initBackend } from '../../ml';
import type { Net, OptimizerSpec, TrainConfig, TrainData } from '../../ml';
import type { InputShape } from '../../common/input-shape';
import { netInference } from '../../ml/compiled-inference';
import { CompiledStep, compiledStepPlan } from '../../ml/compiled-step';
import { buildLayersNet } from '../../ml/layers-net';
import { relativeGap, stepBoth } from '../helpers/gaps';
import { trainRun } from '../helpers/train-runs';
import type { TrainRun } from '../helpers/train-runs';

before(async () => {
  await initBackend({ requested: 'auto' });
});

const ON = { CHRYSALIS_STEP: 'compiled' };
const CLASSES = 5;

type Layer = { class_name: string; config: Record<string, unknown> };

const layer = (class_name: string, name: string, config: Record<string, unknown> = {}): Layer => ({
  class_name,
  config: { name, ...config },
});
const denseLayer = (name: string, units: number, activation: string, more: Record<string, unknown> = {}) =>
  layer('Dense', name, { units, activation, kernel_initializer: { class_name: 'GlorotUniform', config: {} }, ...more });

/** A Sequential model.json of `layers` taking inputs of `input`. */
function topology(input: number[], layers: Layer[]): Record<string, unknown> {
  const first = { ...layers[0]!, config: { ...layers[0]!.config, batch_input_shape: [null, ...input] } };
  return {
    modelTopology: { class_name: 'Sequential', config: { name: 'student', layers: [first, ...layers.slice(1)] } },
  };
}

interface Topology {
  name: string;
  inputShape: InputShape;
  json: Record<string, unknown>;
  /** Inputs' range: large enough that ReLU6 units pass 6 (its gradient's upper cut). @default 1 */
  scale?: number;
}

const TOPOLOGIES: Topology[] = [
  {
    name: 'Dense relu → Dense relu6 without bias → Dense softmax',
    inputShape: [4, 5],
    scale: 12,
    json: topology(
      [20],
      [
        denseLayer('h0', 12, 'relu'),
        denseLayer('h1', 8, 'relu6', { use_bias: false }),
        denseLayer('out', 5, 'softmax'),
      ],
    ),
  },
  {
    name: 'Conv2D same relu → MaxPooling2D → strided same Conv2D without bias → overlapping AveragePooling2D → Flatten → Dense',
    inputShape: [10, 10, 2],
    json: topology(
      [10, 10, 2],
      [
        layer('Conv2D', 'c0', { filters: 3, kernel_size: [3, 3], padding: 'same', activation: 'relu' }),
        layer('MaxPooling2D', 'p0', { pool_size: [2, 2] }),
        layer('Conv2D', 'c1', {
          filters: 4,
          kernel_size: 3,
          strides: 2,
          padding: 'same',
          use_bias: false,
          activation: 'linear',
        }),
        layer('AveragePooling2D', 'p1', { pool_size: [2, 2], strides: [1, 1] }),
        layer('Flatten', 'flat'),
        denseLayer('logits', CLASSES, 'linear'),
      ],
    ),
  },
  {
    name: 'Dense tanh → Dense sigmoid → Dense → Activation elu → Reshape → Flatten → Activation softmax → Dense softmax',
    inputShape: [4, 5],
    json: topology(
      [20],
      [
        denseLayer('h0', 12, 'tanh'),
        denseLayer('h1', 10, 'sigmoid'),
        denseLayer('h2', 8, 'linear'),
        layer('Activation', 'act', { activation: 'elu' }),
        layer('Reshape', 'grid', { target_shape: [2, 4] }),
        layer('Flatten', 'flat'),
        layer('Activation', 'shares', { activation: 'softmax' }),
        denseLayer('out', CLASSES, 'softmax'),
      ],
    ),
  },
];

const net = (t: Topology, seed = 7): Promise<Net> =>
  buildLayersNet({ kind: 'layers', topology: '/x/model.json' }, t.json, {
    inputShape: t.inputShape,
    numClasses: CLASSES,
    seed,
  });

/** A batch of 16 rows of `features` inputs in [0, scale), labels and soft targets. */
function batch(seed: number, features: number, scale = 1) {
  const rng = new Rng(seed);
  const rows = 16;
  const x = tf.tensor2d(
    Float32Array.from({ length: rows * features }, () => scale * rng.next()),
    [rows, features],
  );
  const labels = tf.tensor1d(
    Int32Array.from({ length: rows }, () => rng.int(0, CLASSES - 1)),
    'int32',
  );
  const softTargets = tf.tidy(() =>
    tf.softmax(
      tf.tensor2d(
        Float32Array.from({ length: rows * CLASSES }, () => 3 * rng.next()),
        [rows, CLASSES],
      ),
    ),
  );
  return { x, labels, softTargets };
}

const RECIPES: { name: string; opt: OptimizerSpec; soft?: { alpha: number; temperature: number } }[] = [
  { name: 'hard labels, SGD with momentum', opt: { kind: 'sgd', learningRate: 0.1, momentum: 0.9 } },
  {
    name: 'soft + hard (α = 0.7, T = 3), Adam',
    opt: { kind: 'adam', learningRate: 0.01 },
    soft: { alpha: 0.7, temperature: 3 },
  },
];

for (const t of TOPOLOGIES)
  for (const r of RECIPES)
    test(`a layers net's compiled step follows its eager one: ${t.name}; ${r.name}`, async () => {
      const [eager, compiledNet] = [await net(t), await net(t)];
      const initial = exportWeights(compiledNet);
      assert.deepEqual(compiledStepPlan(compiledNet, ON), { path: 'compiled' });
      const opt = new Optimizer(r.opt, eager.params);
      const compiled = CompiledStep.create(compiledNet, r.opt, { soft: r.soft !== undefined, hard: true });
      for (let step = 0; step < 4; step++) {
        const b = batch(30 + step, eager.inputSize, t.scale);
        stepBoth({ eager, opt, compiled }, b, r.opt.learningRate, r.soft, [new Rng(step), new Rng(step)], step);
        tf.dispose([b.x, b.labels, b.softTargets]);
      }
      const gap = relativeGap(compiled.weights(), exportWeights(eager));
      assert.ok(gap < 1e-5, `weights within float rounding of the tape's (relative gap ${gap})`);
      const slotGap = relativeGap(compiled.optimizerState(), opt.state());
      assert.ok(slotGap < 1e-5, `optimizer slots as the eager optimizer's (relative gap ${slotGap})`);
      for (const [name, w] of Object.entries(compiled.weights()))
        assert.ok(relativeGap({ [name]: w }, { [name]: initial[name]! }) > 1e-4, `${name} moved`);
      compiled.dispose();
      for (const x of [opt, eager, compiledNet]) x.dispose();
    });

test("a layers net's compiled inference gives its eager logits", async () => {
  const n = await net(TOPOLOGIES[1]!);
  const inference = netInference(n, ON);
  assert.equal(inference.compiled, true);
  const b = batch(1, n.inputSize);
  const [got, want] = [inference.forward(b.x), n.forward(b.x)];
  const gap = relativeGap(
    { l: { dtype: 'float32', shape: got.shape, data: got.dataSync() } },
    {
      l: { dtype: 'float32', shape: want.shape, data: want.dataSync() },
    },
  );
  assert.ok(gap < 1e-5, `relative gap ${gap}`);
  tf.dispose([got, want, b.x, b.labels, b.softTargets]);
  inference.dispose();
  n.dispose();
});

/** Dense → Dropout(rate) → Dense on 4×5 images. */
const withDropout = (rate: number): Topology => ({
  name: `dropout ${rate}`,
  inputShape: [4, 5],
  json: topology(
    [20],
    [denseLayer('h', 16, 'relu'), layer('Dropout', 'drop', { rate }), denseLayer('out', CLASSES, 'softmax')],
  ),
});

/** 48 images of 4×5 pixels, labelled by which quarter of the pixels is brightest. */
function images(): TrainData {
  const rng = new Rng(12);
  const n = 48;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % CLASSES);
  const pixels = Uint8Array.from({ length: n * 20 }, (_, p) => {
    const [i, j] = [Math.floor(p / 20), p % 20];
    return Math.floor(j / 4) === labels[i] ? 150 + rng.int(0, 100) : rng.int(0, 120);
  });
  return { images: pixels, labels, side: [4, 5], indices: Int32Array.from({ length: n }, (_, i) => i) };
}

const RECIPE: TrainConfig = {
  epochs: 4,
  batchSize: 12,
  optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 },
  seed: 8,
};

/** train() of `t` on the compiled path; a resumed run's fresh net has another seed: all it knows is the snapshot. */
const run = (t: Topology, resumeAfter?: number): Promise<TrainRun> =>
  trainRun((resumed) => net(t, resumed ? 99 : 7), images, RECIPE, 'compiled', resumeAfter);

test('a layers net with dropout trains compiled: one seed, one run; a resume is the uninterrupted run', async () => {
  const whole = await run(withDropout(0.4));
  assert.deepEqual(whole.plans, [{ path: 'compiled' }]);
  assert.deepEqual(await run(withDropout(0.4)), whole, 'the same seed gives the same weights, bit for bit');
  const resumed = await run(withDropout(0.4), 2);
  assert.deepEqual(resumed.plans, [{ path: 'compiled' }, { path: 'compiled' }]);
  assert.deepEqual(resumed.weights, whole.weights, 'resumed after epoch 2');
  const none = await run(withDropout(0));
  assert.ok(relativeGap(none.weights, whole.weights) > 1e-3, 'the masks drop units out');
});

test('a layers net with a layer or activation the graph lacks keeps the eager path, naming it', async () => {
  const separable = await net({
    name: 'separable',
    inputShape: [6, 6],
    json: topology(
      [6, 6, 1],
      [
        layer('SeparableConv2D', 'sep', { filters: 2, kernel_size: 3 }),
        layer('Flatten', 'flat'),
        denseLayer('out', CLASSES, 'softmax'),
      ],
    ),
  });
  assert.deepEqual(compiledStepPlan(separable, ON), {
    path: 'eager',
    reason: 'layers net: layer sep (SeparableConv2D) has no compiled step',
  });
  assert.equal(netInference(separable, ON).compiled, false);
  const selu = await net({
    name: 'selu',
    inputShape: [4, 5],
    json: topology([20], [denseLayer('h', 8, 'selu'), denseLayer('out', CLASSES, 'softmax')]),
  });
  assert.deepEqual(compiledStepPlan(selu, ON), {
    path: 'eager',
    reason: 'layers net: layer h (Dense) with activation "selu" has no compiled step',
  });
  separable.dispose();
  selu.dispose();
});
