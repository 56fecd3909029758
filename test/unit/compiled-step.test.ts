import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Optimizer, Rng, buildNet, exportWeights, initBackend, train } from '../../ml';
import type { Net, OptimizerSpec, TrainConfig, TrainSnapshot } from '../../ml';
import type { RawTensor } from '../../common/raw-tensor';
import { COMPILED_OPT_IN, CompiledStep, compiledStepPlan } from '../../ml/compiled-step';
import type { StepPlan } from '../../ml/compiled-step';
import type { InputShape } from '../../common/input-shape';
import type { KeptClassTargets } from '../../ml/losses';
import type { BuiltInSpec, MlpSpec } from '../../ml/models';
import { mlpStep } from '../../ml/mlp-step';
import { trainStep } from '../../ml/train-step';

before(async () => {
  await initBackend({ requested: 'auto' });
});

const CLASSES = 5;
const ROWS = 24;
const FEATURES = 20;

interface Batch {
  x: tf.Tensor2D;
  labels: tf.Tensor1D;
  softTargets: tf.Tensor2D;
}

function batchOf(seed: number, features = FEATURES): Batch {
  const rng = new Rng(seed);
  const x = tf.tensor2d(
    Float32Array.from({ length: ROWS * features }, () => rng.next()),
    [ROWS, features],
  );
  const labels = tf.tensor1d(
    Int32Array.from({ length: ROWS }, () => rng.int(0, CLASSES - 1)),
    'int32',
  );
  const logits = tf.tensor2d(
    Float32Array.from({ length: ROWS * CLASSES }, () => 4 * rng.next()),
    [ROWS, CLASSES],
  );
  const softTargets = tf.softmax(logits);
  logits.dispose();
  return { x, labels, softTargets };
}

/** Largest |a − b| over every named tensor, relative to the largest |b|. */
function relativeGap(a: Record<string, RawTensor>, b: Record<string, RawTensor>): number {
  let gap = 0;
  let scale = 0;
  for (const [k, tb] of Object.entries(b)) {
    const ta = a[k];
    assert.ok(ta, `${k} present on both sides`);
    assert.deepEqual(ta.shape, tb.shape, `${k}: shape`);
    for (let i = 0; i < tb.data.length; i++) {
      gap = Math.max(gap, Math.abs(Number(ta.data[i]) - Number(tb.data[i])));
      scale = Math.max(scale, Math.abs(Number(tb.data[i])));
    }
  }
  return gap / Math.max(scale, 1e-30);
}

const sgd = (momentum: number, nesterov = false): OptimizerSpec => ({
  kind: 'sgd',
  learningRate: 0.1,
  momentum,
  nesterov,
});

interface Case {
  name: string;
  spec: BuiltInSpec;
  /** @default [4, 5] */
  inputShape?: InputShape;
  opt: OptimizerSpec;
  /** Soft term's weight α and T; undefined: hard labels only. */
  soft?: { alpha: number; temperature: number };
}

const CASES: Case[] = [
  { name: 'hard labels, plain SGD', spec: { kind: 'mlp', hidden: [16, 12] }, opt: sgd(0) },
  {
    name: 'soft targets only at T = 4, SGD with momentum',
    spec: { kind: 'mlp', hidden: [16] },
    opt: sgd(0.9),
    soft: { alpha: 1, temperature: 4 },
  },
  {
    name: 'both terms (α = 0.7, T = 3) with input and hidden dropout, Nesterov momentum',
    spec: { kind: 'mlp', hidden: [16, 12], inputDropout: 0.2, hiddenDropout: 0.5 },
    opt: sgd(0.9, true),
    soft: { alpha: 0.7, temperature: 3 },
  },
  {
    name: 'both terms (α = 0.5, T = 1), Adam',
    spec: { kind: 'mlp', hidden: [10] },
    opt: { kind: 'adam', learningRate: 0.01 },
    soft: { alpha: 0.5, temperature: 1 },
  },
  {
    name: 'hard labels with dropout and a max-norm that binds, SGD with momentum',
    spec: { kind: 'mlp', hidden: [16, 12], hiddenDropout: 0.3, maxNorm: 0.6 },
    opt: sgd(0.9),
  },
  {
    name: 'a CNN of two filter banks on 2-channel 7×6 images, both terms (α = 0.6, T = 2), dropout, momentum',
    spec: { kind: 'cnn', filters: [3, 4], dense: 10, dropout: 0.3 },
    inputShape: [7, 6, 2],
    opt: sgd(0.9),
    soft: { alpha: 0.6, temperature: 2 },
  },
  {
    name: 'a CNN of one filter bank, hard labels, Adam',
    spec: { kind: 'cnn', filters: [4], dense: 8 },
    inputShape: [6, 6],
    opt: { kind: 'adam', learningRate: 0.01 },
  },
];

const build = (spec: BuiltInSpec, inputShape: InputShape = [4, 5]): Net =>
  buildNet(spec, { inputShape, numClasses: CLASSES, seed: 5 });

for (const c of CASES) {
  test(`the compiled step follows the eager one: ${c.name}`, () => {
    const [eager, compiledNet] = [build(c.spec, c.inputShape), build(c.spec, c.inputShape)];
    const initial = exportWeights(compiledNet);
    const opt = new Optimizer(c.opt, eager.params);
    const terms = { soft: c.soft !== undefined && c.soft.alpha > 0, hard: c.soft === undefined || c.soft.alpha < 1 };
    const compiled = CompiledStep.create(compiledNet, c.opt, terms);
    const [rngEager, rngCompiled] = [new Rng(11), new Rng(11)];
    const T = c.soft?.temperature ?? 1;
    for (let step = 0; step < 6; step++) {
      const b = batchOf(100 + step, eager.inputSize);
      const soft = c.soft ? { softTargets: b.softTargets, temperature: T, alpha: c.soft.alpha } : {};
      const want = trainStep(eager, opt, { x: b.x, labels: b.labels, ...soft }, c.opt.learningRate, rngEager);
      eager.applyConstraints();
      const batch = { x: b.x, labels: b.labels, ...(c.soft ? { softTargets: b.softTargets } : {}) };
      const got = compiled.step(batch, c.opt.learningRate, T, c.soft?.alpha ?? 1, rngCompiled);
      assert.ok(
        Math.abs(got.loss - want.loss) <= 1e-5 * Math.abs(want.loss),
        `step ${step}: ${got.loss} vs ${want.loss}`,
      );
      assert.equal(got.correct, want.correct, `step ${step}: correct rows`);
      tf.dispose([b.x, b.labels, b.softTargets]);
    }
    const gap = relativeGap(compiled.weights(), exportWeights(eager));
    assert.ok(gap < 1e-5, `weights within float rounding of the eager step's (relative gap ${gap})`);
    const slotGap = relativeGap(compiled.optimizerState(), opt.state());
    assert.ok(slotGap < 1e-5, `optimizer slots and step count as the eager optimizer's (relative gap ${slotGap})`);
    assert.ok(relativeGap(compiled.weights(), initial) > 1e-3, 'the steps moved the weights');
    if (c.spec.kind === 'mlp' && c.spec.maxNorm !== undefined) {
      const w0 = compiled.weights()['w0']!;
      const [rows, cols] = w0.shape as [number, number];
      for (let j = 0; j < cols; j++) {
        let sq = 0;
        for (let i = 0; i < rows; i++) sq += Number(w0.data[i * cols + j]) ** 2;
        assert.ok(Math.sqrt(sq) <= c.spec.maxNorm * (1 + 1e-5), `w0 column ${j} norm ${Math.sqrt(sq)}`);
      }
    }
    compiled.dispose();
    for (const x of [opt, eager, compiledNet]) x.dispose();
  });
}

test('a compiled step leaves no tensor behind, and syncNet hands the trained weights to the net', () => {
  const net = build({ kind: 'mlp', hidden: [8], inputDropout: 0.1 });
  const compiled = CompiledStep.create(net, sgd(0.9), { soft: true, hard: true });
  const b = batchOf(3);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) compiled.step(b, 0.1, 2, 0.5, new Rng(i));
  compiled.weights();
  compiled.optimizerState();
  assert.equal(tf.memory().numTensors, before);
  const trained = compiled.weights();
  assert.ok(relativeGap(exportWeights(net), trained) > 1e-4, 'the net still holds its initial weights');
  compiled.syncNet();
  assert.equal(relativeGap(exportWeights(net), trained), 0);
  compiled.dispose();
  tf.dispose([b.x, b.labels, b.softTargets]);
  net.dispose();
});

test('a compiled step starts from the optimizer state it is given, as the eager optimizer resumes', () => {
  const spec: MlpSpec = { kind: 'mlp', hidden: [8] };
  const adam: OptimizerSpec = { kind: 'adam', learningRate: 0.01 };
  const [eager, compiledNet] = [build(spec), build(spec)];
  const opt = new Optimizer(adam, eager.params);
  const rng = new Rng(1);
  for (let i = 0; i < 3; i++) {
    const b = batchOf(i);
    mlpStep(eager, opt, { x: b.x, labels: b.labels }, 0.01, rng);
    tf.dispose([b.x, b.labels, b.softTargets]);
  }
  // Resumed mid-run: weights and Adam's moments and step count after 3 eager steps.
  const compiled = CompiledStep.create(eager, adam, { soft: false, hard: true }, opt.state());
  const b = batchOf(9);
  mlpStep(eager, opt, { x: b.x, labels: b.labels }, 0.01, rng);
  compiled.step(b, 0.01, 1, 1, new Rng(0));
  assert.ok(relativeGap(compiled.weights(), exportWeights(eager)) < 1e-5);
  assert.equal(compiled.optimizerState()['step']!.data[0], 4);
  compiled.dispose();
  tf.dispose([b.x, b.labels, b.softTargets]);
  for (const x of [opt, eager, compiledNet]) x.dispose();
});

test('compiledStepPlan: MLPs and CNNs on native compile when asked; layers nets, the default and CHRYSALIS_STEP=eager stay eager, saying why', () => {
  const mlp = build({ kind: 'mlp', hidden: [4] });
  const cnn = buildNet({ kind: 'cnn', filters: [2], dense: 4 }, { inputShape: [4, 4], numClasses: 3, seed: 1 });
  const on = { CHRYSALIS_STEP: 'compiled' };
  assert.deepEqual(compiledStepPlan(mlp, on), { path: 'compiled' });
  assert.deepEqual(compiledStepPlan(cnn, on), { path: 'compiled' });
  const layers = { ...mlp, spec: { kind: 'layers' as const, topology: '/x/model.json' } };
  assert.deepEqual(compiledStepPlan(layers, on), { path: 'eager', reason: 'layers nets have no compiled step yet' });
  assert.deepEqual(compiledStepPlan(mlp, {}), { path: 'eager', reason: COMPILED_OPT_IN }, 'opt-in for now');
  assert.deepEqual(compiledStepPlan(mlp, { CHRYSALIS_STEP: 'eager' }), {
    path: 'eager',
    reason: 'CHRYSALIS_STEP=eager',
  });
  mlp.dispose();
  cnn.dispose();
});

/** Top-k buckets of probability rows: the k largest classes kept, the rest summed (as ml/soft-targets.ts stores). */
function topKOf(p: tf.Tensor2D, k: number): KeptClassTargets {
  const [n, c] = p.shape;
  const v = p.dataSync();
  const kept = new Float32Array(n * c);
  const mask = new Float32Array(n * c);
  const rest = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const order = Array.from({ length: c }, (_, j) => j).sort((a, b) => v[r * c + b]! - v[r * c + a]!);
    let sum = 0;
    for (const j of order.slice(0, k)) {
      kept[r * c + j] = v[r * c + j]!;
      mask[r * c + j] = 1;
      sum += v[r * c + j]!;
    }
    rest[r] = Math.max(0, 1 - sum);
  }
  return { kept: tf.tensor2d(kept, [n, c]), mask: tf.tensor2d(mask, [n, c]), rest: tf.tensor2d(rest, [n, 1]) };
}

for (const k of [2, CLASSES]) {
  test(`the compiled step follows the eager one on top-${k} soft targets (α = 0.8, T = 3, momentum)`, () => {
    const spec: MlpSpec = { kind: 'mlp', hidden: [16], hiddenDropout: 0.2 };
    const opt = sgd(0.9);
    const [eager, compiledNet] = [build(spec), build(spec)];
    const eagerOpt = new Optimizer(opt, eager.params);
    const compiled = CompiledStep.create(compiledNet, opt, { soft: true, hard: true, topK: true });
    const [rngEager, rngCompiled] = [new Rng(4), new Rng(4)];
    for (let step = 0; step < 6; step++) {
      const b = batchOf(200 + step);
      const buckets = topKOf(b.softTargets, k);
      const batch = { x: b.x, labels: b.labels, softTargets: buckets, temperature: 3, alpha: 0.8 };
      const want = trainStep(eager, eagerOpt, batch, 0.1, rngEager);
      const got = compiled.step({ x: b.x, labels: b.labels, softTargets: buckets }, 0.1, 3, 0.8, rngCompiled);
      assert.ok(
        Math.abs(got.loss - want.loss) <= 1e-5 * Math.abs(want.loss),
        `step ${step}: ${got.loss} vs ${want.loss}`,
      );
      assert.equal(got.correct, want.correct);
      tf.dispose([b.x, b.labels, b.softTargets, buckets.kept, buckets.mask, buckets.rest]);
    }
    const gap = relativeGap(compiled.weights(), exportWeights(eager));
    assert.ok(gap < 1e-5, `weights within float rounding of the tape's (relative gap ${gap})`);
    compiled.dispose();
    for (const x of [eagerOpt, eager, compiledNet]) x.dispose();
  });
}

test('a compiled step refuses soft targets of another kind than it was built for', () => {
  const net = build({ kind: 'mlp', hidden: [4] });
  const compiled = CompiledStep.create(net, sgd(0), { soft: true, hard: false });
  const b = batchOf(1);
  const buckets = topKOf(b.softTargets, 2);
  assert.throws(
    () => compiled.step({ x: b.x, labels: b.labels, softTargets: buckets }, 0.1, 1, 1, new Rng(1)),
    /soft targets of another kind than the step was built for/,
  );
  tf.dispose([b.x, b.labels, b.softTargets, buckets.kept, buckets.mask, buckets.rest]);
  compiled.dispose();
  net.dispose();
});

/** A small image task for train(): 64 examples of 4×5 pixels, labels from the pixels' sums. */
function trainData(): Parameters<typeof train>[1] {
  const rng = new Rng(4);
  const n = 64;
  const images = Uint8Array.from({ length: n * FEATURES }, () => rng.int(0, 255));
  const labels = Uint8Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < FEATURES; j++) s += images[i * FEATURES + j]!;
    return Math.floor(s / 600) % CLASSES;
  });
  return { images, labels, side: [4, 5], indices: Int32Array.from({ length: n }, (_, i) => i) };
}

const CONFIG: TrainConfig = {
  epochs: 4,
  batchSize: 16,
  optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 },
  seed: 3,
  jitter: 1,
};

async function trained(
  env: string | undefined,
  resumeAfter?: number,
  config: TrainConfig = CONFIG,
): Promise<{ weights: Record<string, RawTensor>; plans: StepPlan[] }> {
  const spec: MlpSpec = { kind: 'mlp', hidden: [12], hiddenDropout: 0.25, maxNorm: 2 };
  const saved = process.env['CHRYSALIS_STEP'];
  process.env['CHRYSALIS_STEP'] = env ?? 'compiled';
  try {
    const plans: StepPlan[] = [];
    const net = build(spec);
    let snap: TrainSnapshot | undefined;
    const hooks = {
      onStepPlan: (p: StepPlan) => plans.push(p),
      onEpochEnd: async (s: { epoch: number }, snapshot: () => TrainSnapshot) => {
        if (s.epoch === resumeAfter) snap = snapshot();
      },
    };
    await train(net, trainData(), resumeAfter ? { ...config, stopAfterEpoch: resumeAfter } : config, hooks);
    if (resumeAfter) {
      // A new net, as on another worker: everything it knows comes from the snapshot.
      net.dispose();
      const resumed = build(spec);
      await train(resumed, trainData(), config, { onStepPlan: (p) => plans.push(p) }, snap);
      const weights = exportWeights(resumed);
      resumed.dispose();
      return { weights, plans };
    }
    const weights = exportWeights(net);
    net.dispose();
    return { weights, plans };
  } finally {
    if (saved === undefined) delete process.env['CHRYSALIS_STEP'];
    else process.env['CHRYSALIS_STEP'] = saved;
  }
}

test('train() takes the compiled step, reports it once, and ends within float rounding of the eager path', async () => {
  const compiled = await trained(undefined);
  assert.deepEqual(compiled.plans, [{ path: 'compiled' }]);
  const eager = await trained('eager');
  assert.deepEqual(eager.plans, [{ path: 'eager', reason: 'CHRYSALIS_STEP=eager' }]);
  const gap = relativeGap(compiled.weights, eager.weights);
  assert.ok(gap < 1e-4, `4 epochs with jitter, dropout and max-norm: relative gap ${gap}`);
  assert.deepEqual(await trained(undefined), compiled, 'the same config gives the same weights');
});

test('a compiled run resumed from its checkpoint gives the uninterrupted run weights bit for bit', async () => {
  const whole = await trained(undefined);
  const resumed = await trained(undefined, 2);
  assert.deepEqual(resumed.plans, [{ path: 'compiled' }, { path: 'compiled' }]);
  assert.deepEqual(resumed.weights, whole.weights);
});

test('a momentum schedule steps the same on both paths, matters, and resumes bit for bit', async () => {
  const ramped: TrainConfig = {
    ...CONFIG,
    optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9, momentumRamp: { from: 0.5, epochs: 3 } },
  };
  const compiled = await trained(undefined, undefined, ramped);
  const eager = await trained('eager', undefined, ramped);
  const gap = relativeGap(compiled.weights, eager.weights);
  assert.ok(gap < 1e-4, `momentum 0.5 → 0.9 over 3 epochs: relative gap ${gap}`);
  const constant = await trained(undefined);
  assert.ok(relativeGap(compiled.weights, constant.weights) > 1e-3, 'the ramp changed the steps');
  const resumed = await trained(undefined, 2, ramped);
  assert.deepEqual(resumed.weights, compiled.weights, 'resumed mid-ramp');
});
