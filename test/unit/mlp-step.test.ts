import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Optimizer, Rng, buildNet, initBackend } from '../../ml';
import type { Net, OptimizerSpec } from '../../ml';
import { dropoutMultiplier } from '../../ml/models';
import type { MlpSpec } from '../../ml/models';
import { mlpStep } from '../../ml/mlp-step';
import type { StepBatch } from '../../ml/mlp-step';
import { nativeOpsActive, reluGrad, softmaxCrossEntropy, sparseSoftmaxCrossEntropy } from '../../ml/native-ops';
import { trainStep } from '../../ml/train-step';
import type { TrainBatch } from '../../ml/train-step';

before(async () => {
  await initBackend({ requested: 'auto' });
});

const CLASSES = 4;
const ROWS = 16;
const FEATURES = 12;

function batchOf(seed: number, soft: boolean, extra: Partial<TrainBatch> = {}): TrainBatch {
  const rng = new Rng(seed);
  const x = tf.tensor2d(
    Float32Array.from({ length: ROWS * FEATURES }, () => rng.next()),
    [ROWS, FEATURES],
  );
  const labels = tf.tensor1d(
    Int32Array.from({ length: ROWS }, () => rng.int(0, CLASSES - 1)),
    'int32',
  );
  const softTargets = soft
    ? tf.softmax(
        tf.tensor2d(
          Float32Array.from({ length: ROWS * CLASSES }, () => 4 * rng.next()),
          [ROWS, CLASSES],
        ),
      )
    : undefined;
  return { x, labels, ...(softTargets ? { softTargets } : {}), ...extra };
}

function weights(net: Net): Map<string, Float32Array> {
  return new Map([...net.params].map(([k, v]) => [k, v.dataSync() as Float32Array]));
}

/** Largest |a − b| over every parameter, relative to the largest |b|. */
function relativeGap(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let gap = 0;
  let scale = 0;
  for (const [k, wb] of b) {
    const wa = a.get(k)!;
    for (let i = 0; i < wb.length; i++) {
      gap = Math.max(gap, Math.abs(wa[i]! - wb[i]!));
      scale = Math.max(scale, Math.abs(wb[i]!));
    }
  }
  return gap / scale;
}

test('the MLP pass draws its dropout masks from the seeds it is given, input first', () => {
  const spec: MlpSpec = { kind: 'mlp', hidden: [7], inputDropout: 0.3, hiddenDropout: 0.5 };
  const net = buildNet(spec, { inputShape: [3, 4], numClasses: CLASSES, seed: 3 });
  const { x } = batchOf(1, false);
  const got = net.forward(x, { training: true, rng: new Rng(9) }).dataSync();
  const r = new Rng(9);
  const [s0, s1] = [r.seed(), r.seed()];
  const p = (k: string) => net.params.get(k)!;
  const want = tf.tidy(() => {
    const h = tf.relu(tf.add(tf.matMul(tf.mul(x, dropoutMultiplier([ROWS, FEATURES], 0.3, s0)), p('w0')), p('b0')));
    return tf.add(tf.matMul(tf.mul(h, dropoutMultiplier([ROWS, 7], 0.5, s1)), p('w1')), p('b1')).dataSync();
  });
  assert.deepEqual(Array.from(got), Array.from(want));
  const evaluation = net.forward(x, { training: false }).dataSync();
  assert.notDeepEqual(Array.from(got), Array.from(evaluation), 'training draws masks, evaluation does not');
  net.dispose();
});

test('a dropout multiplier is 0 or 1/keep, keeps about keep of its elements, and replays only from its seed', () => {
  const [rows, cols] = [64, 1000];
  const values = (seed: number, rate: number) => Array.from(dropoutMultiplier([rows, cols], rate, seed).dataSync());
  for (const rate of [0.2, 0.5]) {
    const keep = 1 - rate;
    const m = values(21, rate);
    const kept = m.filter((v) => v !== 0);
    assert.ok(
      kept.every((v) => Math.abs(v - 1 / keep) < 1e-6),
      `rate ${rate}: kept values are 1/keep`,
    );
    // 64,000 Bernoulli(keep) draws: the kept fraction is within 1 % of keep with overwhelming probability.
    assert.ok(Math.abs(kept.length / m.length - keep) < 0.01, `rate ${rate}: kept ${kept.length} of ${m.length}`);
    assert.deepEqual(values(21, rate), m, 'the same seed replays the same mask');
    const other = values(22, rate);
    const agree = other.filter((v, i) => v === m[i]).length / m.length;
    // Independent masks agree on keep² + rate² of the elements; the same mask would agree on all of them.
    assert.ok(Math.abs(agree - (keep * keep + rate * rate)) < 0.01, `rate ${rate}: seeds 21 and 22 agree on ${agree}`);
  }
});

const CASES: { name: string; spec: MlpSpec; opt: OptimizerSpec; soft: boolean; extra?: Partial<TrainBatch> }[] = [
  { name: 'hard labels, plain SGD', spec: { kind: 'mlp', hidden: [9, 8] }, opt: sgd(0), soft: false },
  {
    name: 'soft targets at T = 4, SGD with momentum',
    spec: { kind: 'mlp', hidden: [9] },
    opt: sgd(0.9),
    soft: true,
    extra: { temperature: 4 },
  },
  {
    name: 'both terms (α = 0.7, T = 3) with dropout, plain SGD',
    spec: { kind: 'mlp', hidden: [9, 8], inputDropout: 0.2, hiddenDropout: 0.5 },
    opt: sgd(0),
    soft: true,
    extra: { temperature: 3, alpha: 0.7 },
  },
  {
    name: 'both terms (α = 0.5, T = 1), Adam',
    spec: { kind: 'mlp', hidden: [6] },
    opt: { kind: 'adam', learningRate: 0.01 },
    soft: true,
    extra: { alpha: 0.5 },
  },
];

function sgd(momentum: number): OptimizerSpec {
  return { kind: 'sgd', learningRate: 0.1, momentum };
}

for (const c of CASES) {
  for (const portable of [false, true]) {
    test(`the written-out MLP step follows the tape's: ${c.name}${portable ? ' (tfjs compositions)' : ''}`, () => {
      const build = () => buildNet(c.spec, { inputShape: [3, 4], numClasses: CLASSES, seed: 5 });
      const [viaTape, written] = [build(), build()];
      const initial = weights(written);
      const [optTape, optWritten] = [new Optimizer(c.opt, viaTape.params), new Optimizer(c.opt, written.params)];
      const [rngTape, rngWritten] = [new Rng(11), new Rng(11)];
      for (let step = 0; step < 4; step++) {
        const batch = batchOf(100 + step, c.soft, c.extra);
        const want = trainStep(viaTape, optTape, batch, 0.1, rngTape, 'tape');
        const got = mlpStep(written, optWritten, batch as StepBatch, 0.1, rngWritten, { portable });
        assert.ok(
          Math.abs(got.loss - want.loss) <= 1e-5 * Math.abs(want.loss),
          `step ${step}: loss ${got.loss} vs ${want.loss}`,
        );
        assert.equal(got.correct, want.correct, `step ${step}: correct rows`);
        tf.dispose([batch.x, batch.labels, batch.softTargets as tf.Tensor | undefined]);
      }
      const gap = relativeGap(weights(written), weights(viaTape));
      assert.ok(gap < 1e-5, `weights within float rounding of the tape's (relative gap ${gap})`);
      assert.ok(relativeGap(weights(written), initial) > 1e-3, 'the steps moved the weights');
      for (const x of [optTape, optWritten, viaTape, written]) x.dispose();
    });
  }
}

test('trainStep leaves no tensor behind on either path', () => {
  const net = buildNet(
    { kind: 'mlp', hidden: [5], hiddenDropout: 0.5 },
    { inputShape: [3, 4], numClasses: 4, seed: 1 },
  );
  const opt = new Optimizer(sgd(0), net.params);
  const batch = batchOf(2, true, { alpha: 0.5, temperature: 2 });
  const before = tf.memory().numTensors;
  for (const path of ['auto', 'tape'] as const) trainStep(net, opt, batch, 0.1, new Rng(1), path);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([batch.x, batch.labels, batch.softTargets as tf.Tensor]);
  opt.dispose();
  net.dispose();
});

test('the native kernels equal their tfjs compositions', () => {
  assert.ok(nativeOpsActive(), 'unit tests run on the native backend (npm run setup builds it)');
  const { x: z, labels, softTargets } = batchOf(4, true);
  const logits = tf.tidy(() => tf.sub<tf.Tensor2D>(tf.slice(z, [0, 0], [ROWS, CLASSES]), 0.5));
  const close = (a: tf.Tensor, b: tf.Tensor, what: string) => {
    const [va, vb] = [a.dataSync(), b.dataSync()];
    va.forEach((v, i) => assert.ok(Math.abs(v - vb[i]!) < 1e-6, `${what}[${i}]: ${v} vs ${vb[i]}`));
  };
  tf.tidy(() => {
    close(reluGrad(logits, tf.relu(logits)), reluGrad(logits, tf.relu(logits), { portable: true }), 'ReluGrad');
    const p = softTargets as tf.Tensor2D;
    for (const [name, f] of [
      ['SoftmaxCrossEntropyWithLogits', (portable: boolean) => softmaxCrossEntropy(logits, p, { portable })],
      [
        'SparseSoftmaxCrossEntropyWithLogits',
        (portable: boolean) => sparseSoftmaxCrossEntropy(logits, labels, { portable }),
      ],
    ] as const) {
      const [native, portable] = [f(false), f(true)];
      close(native.loss, portable.loss, `${name} loss`);
      close(native.backprop, portable.backprop, `${name} backprop`);
    }
  });
  tf.dispose([z, labels, softTargets as tf.Tensor, logits]);
});
