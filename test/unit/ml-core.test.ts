import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  Optimizer,
  distillationLoss,
  softKl,
  encodeIdx,
  initBackend,
  makePlan,
  metrics,
  momentumAt,
  parseIdx,
  searchBiasShift,
  softCrossEntropy,
  softTargetsAt,
} from '../../ml';

before(async () => {
  await initBackend({ requested: 'auto' });
});

function softmax(z: number[], T = 1): number[] {
  const m = Math.max(...z.map((v) => v / T));
  const e = z.map((v) => Math.exp(v / T - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test('soft-term gradient w.r.t. student logits is (1/T)(q - p)', () => {
  const z = [2.0, -1.0, 0.5, 3.0];
  const teacherLogits = [1.0, 0.0, -2.0, 4.0];
  for (const T of [1, 2.5, 20]) {
    const p = softmax(teacherLogits, T);
    const q = softmax(z, T);
    const g = tf.grad((zz: tf.Tensor) => softCrossEntropy(tf.tensor2d([p]), tf.div<tf.Tensor2D>(zz, T)))(
      tf.tensor2d([z]),
    );
    const got = Array.from(g.dataSync());
    got.forEach((v, i) =>
      assert.ok(Math.abs(v - (q[i]! - p[i]!) / T) < 1e-6, `T=${T} i=${i}: ${v} vs ${(q[i]! - p[i]!) / T}`),
    );
  }
});

test('distillation loss multiplies the soft term by T^2 and mixes the hard term by 1 - alpha', () => {
  const logits = tf.tensor2d([
    [2, -1, 0.5],
    [0.1, 0.2, 0.3],
  ]);
  const soft = tf.tensor2d([
    [0.7, 0.1, 0.2],
    [0.2, 0.5, 0.3],
  ]);
  const labels = tf.tensor1d([0, 2], 'int32');
  for (const T of [1, 4, 20]) {
    const softOnly = distillationLoss(logits, { softTargets: soft, temperature: T, alpha: 1 }).dataSync()[0]!;
    const raw = softCrossEntropy(soft, tf.div<tf.Tensor2D>(logits, T)).dataSync()[0]!;
    const entropy =
      -[
        [0.7, 0.1, 0.2],
        [0.2, 0.5, 0.3],
      ].reduce((s, row) => s + row.reduce((a, p) => a + p * Math.log(p), 0), 0) / 2;
    const klScaled = T * T * (raw - entropy);
    assert.ok(Math.abs(softOnly - klScaled) < 1e-4 * T * T, `T=${T}: soft term is T²·KL = T²·(CE − H)`);
    // Gradient of the scaled soft term is T(q - p)/batch: its magnitude does not vanish as T grows.
    const g = tf.grad((z: tf.Tensor) =>
      distillationLoss(z as tf.Tensor2D, { softTargets: soft, temperature: T, alpha: 1 }),
    )(logits);
    const q = softmax([2, -1, 0.5], T);
    assert.ok(Math.abs(g.dataSync()[0]! - (T * (q[0]! - 0.7)) / 2) < 1e-5);
  }
  const hard = distillationLoss(logits, { labels }).dataSync()[0]!;
  const mixed = distillationLoss(logits, { labels, softTargets: soft, temperature: 3, alpha: 0.25 }).dataSync()[0]!;
  const softPart = distillationLoss(logits, { softTargets: soft, temperature: 3, alpha: 1 }).dataSync()[0]!;
  assert.ok(Math.abs(mixed - (0.25 * softPart + 0.75 * hard)) < 1e-5);
});

test('soft KL is zero exactly when the student matches the teacher', () => {
  const p = tf.tensor2d([[0.7, 0.2, 0.1]]);
  assert.ok(Math.abs(softKl(p, tf.log<tf.Tensor2D>(p)).dataSync()[0]!) < 1e-6);
  assert.ok(softKl(p, tf.tensor2d([[0, 0, 0]])).dataSync()[0]! > 0.1);
});

test('ensemble soft targets: arithmetic mean of probabilities vs softmax of mean logits', () => {
  const a = Float32Array.from([0, 0, 4]);
  const b = Float32Array.from([4, 0, 0]);
  const arith = softTargetsAt([a, b], 1, 3, 1, 'arithmetic');
  const pa = softmax([0, 0, 4]);
  const pb = softmax([4, 0, 0]);
  arith.forEach((v, i) => assert.ok(Math.abs(v - (pa[i]! + pb[i]!) / 2) < 1e-6));
  const geo = softTargetsAt([a, b], 1, 3, 2, 'geometric');
  softmax([2, 0, 2], 2).forEach((v, i) => assert.ok(Math.abs(geo[i]! - v) < 1e-6));
});

test('IDX reader: raw and gzip, shape checked', () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  const idx = encodeIdx([2, 3, 4], data);
  for (const bytes of [idx, new Uint8Array(gzipSync(idx))]) {
    const parsed = parseIdx(bytes);
    assert.deepEqual(parsed.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(parsed.data), Array.from(data));
  }
  assert.throws(() => parseIdx(idx.subarray(0, idx.length - 1)), /header promises 24 values/);
  assert.throws(() => parseIdx(Uint8Array.from([1, 2, 3, 4])), /bad magic/);
});

test('metrics and bias-shift search', () => {
  // Class 2's logit is systematically 3 too low: a +3 shift fixes every example.
  const labels = [0, 1, 2, 2, 2];
  const logits = Float32Array.from([5, 0, 2, 0, 5, 2, 1, 0, -1, 0, 1, -0.5, 1, 0, -1.5]);
  const m = metrics(logits, labels, 3);
  assert.equal(m.errors, 3);
  assert.deepEqual(m.perClassErrors, [0, 0, 3]);
  assert.deepEqual(m.confusion[2], [2, 1, 0]);
  const s = searchBiasShift(logits, labels, 3, [2], 6, 0.5);
  assert.equal(s.errors, 0);
  assert.equal(s.shift, 3, 'only shifts in (2.5, 3] fix all five; ties go to the lower class index');
});

test('splits are deterministic, disjoint, and honour transfer rules', () => {
  const labels = Uint8Array.from({ length: 1000 }, (_, i) => i % 10);
  const p = makePlan(labels, { validationSize: 100, transfer: { kind: 'excludeClasses', classes: [3] }, seed: 5 });
  const q = makePlan(labels, { validationSize: 100, transfer: { kind: 'excludeClasses', classes: [3] }, seed: 5 });
  assert.deepEqual(Array.from(p.train), Array.from(q.train));
  assert.equal(p.train.length, 900);
  const val = new Set(p.validation);
  assert.ok(Array.from(p.train).every((i) => !val.has(i)));
  assert.ok(Array.from(p.transfer).every((i) => labels[i] !== 3));
  const only = makePlan(labels, { validationSize: 100, transfer: { kind: 'onlyClasses', classes: [7, 8] }, seed: 5 });
  assert.ok(Array.from(only.transfer).every((i) => labels[i] === 7 || labels[i] === 8));
  const frac = makePlan(labels, { validationSize: 100, transfer: { kind: 'fraction', fraction: 0.03 }, seed: 5 });
  assert.equal(frac.transfer.length, 27);
});

test('optimizers: plain SGD is p − lr·g, stateless; momentum keeps its slot and restores from a checkpoint', () => {
  const fresh = () => new Map([['w', tf.variable(tf.tensor1d([1, -2, 3]))]]);
  const grads = new Map([['w', tf.tensor1d([0.5, 0.25, -1])]]);
  const read = (p: Map<string, tf.Variable>) => Array.from(p.get('w')!.dataSync());

  const plain = fresh();
  const sgd = new Optimizer({ kind: 'sgd', learningRate: 0.1, momentum: 0 }, plain);
  sgd.apply(grads, 0.1);
  sgd.apply(grads, 0.1);
  assert.deepEqual(
    read(plain).map((v) => +v.toFixed(6)),
    [0.9, -2.05, 3.2],
  );
  assert.deepEqual(Object.keys(sgd.state()), ['step'], 'no momentum slot to checkpoint');
  // A checkpoint written before plain SGD dropped its slot still loads.
  sgd.loadState({
    step: { dtype: 'int32', shape: [1], data: Int32Array.of(7) },
    'm:w': { dtype: 'float32', shape: [3], data: new Float32Array(3) },
  });

  // Momentum 0.9: the second step moves by lr·(0.9·g + g); its state restores into a new optimizer.
  const heavy = fresh();
  const mom = new Optimizer({ kind: 'sgd', learningRate: 0.1, momentum: 0.9 }, heavy);
  mom.apply(grads, 0.1);
  const saved = mom.state();
  assert.deepEqual(Object.keys(saved).sort(), ['m:w', 'step']);
  mom.apply(grads, 0.1);
  assert.deepEqual(
    read(heavy).map((v) => +v.toFixed(6)),
    [0.855, -2.0725, 3.29],
  );
  const resumed = fresh();
  resumed.get('w')!.assign(tf.tensor1d([0.95, -2.025, 3.1]));
  const again = new Optimizer({ kind: 'sgd', learningRate: 0.1, momentum: 0.9 }, resumed);
  again.loadState(saved);
  again.apply(grads, 0.1);
  assert.deepEqual(
    read(resumed).map((v) => +v.toFixed(6)),
    read(heavy).map((v) => +v.toFixed(6)),
  );
  assert.throws(() => again.loadState({ step: saved['step']! }), /optimizer state lacks slot m:w/);
  [sgd, mom, again].forEach((o) => o.dispose());
});

test("a momentum ramp rises linearly to the optimizer's momentum and holds; the eager update uses it", () => {
  const spec = { kind: 'sgd', learningRate: 0.1, momentum: 0.99, momentumRamp: { from: 0.5, epochs: 500 } } as const;
  assert.deepEqual(
    [0, 250, 499, 500, 3000].map((e) => +momentumAt(spec, e).toFixed(6)),
    [0.5, 0.745, 0.98902, 0.99, 0.99],
  );
  assert.equal(momentumAt({ kind: 'sgd', learningRate: 0.1 }, 7), 0.9, 'no ramp: the momentum, default 0.9');
  assert.equal(momentumAt({ kind: 'adam', learningRate: 0.1 }, 7), 0);
  // At epoch 250 the second step moves by lr·(0.745·g + g).
  const w = new Map([['w', tf.variable(tf.tensor1d([1]))]]);
  const opt = new Optimizer(spec, w);
  opt.setEpoch(250);
  const g = new Map([['w', tf.tensor1d([1])]]);
  opt.apply(g, 0.1);
  opt.apply(g, 0.1);
  assert.equal(+w.get('w')!.dataSync()[0]!.toFixed(6), +(1 - 0.1 - 0.1 * 1.745).toFixed(6));
  opt.dispose();
});

test('Optimizer.minimize: plain SGD folds lr into the gradients yet matches apply() with true gradients', () => {
  const x = tf.tensor2d([
    [1, 2],
    [3, -1],
    [0.5, 0.5],
  ]);
  const target = tf.tensor2d([[1], [0], [2]]);
  const make = () =>
    new Map<string, tf.Variable>([
      ['w', tf.variable(tf.tensor2d([[0.3], [-0.2]]))],
      ['b', tf.variable(tf.tensor1d([0.1]))],
    ]);
  const lossOf = (p: Map<string, tf.Variable>) => () =>
    tf.mean<tf.Scalar>(tf.square(tf.sub(tf.add(tf.matMul(x, p.get('w')!), p.get('b')!), target)));
  for (const momentum of [0, 0.9]) {
    const viaMinimize = make();
    const viaApply = make();
    const a = new Optimizer({ kind: 'sgd', learningRate: 0.1, momentum }, viaMinimize);
    const b = new Optimizer({ kind: 'sgd', learningRate: 0.1, momentum }, viaApply);
    for (let step = 0; step < 3; step++) {
      const expectedLoss = lossOf(viaApply)().dataSync()[0]!;
      const { grads } = tf.variableGrads(lossOf(viaApply), [...viaApply.values()]);
      b.apply(new Map([...viaApply.entries()].map(([k, v]) => [k, grads[v.name]!])), 0.1);
      const loss = a.minimize(lossOf(viaMinimize), 0.1);
      assert.ok(
        Math.abs(loss - expectedLoss) < 1e-6,
        `momentum ${momentum}, step ${step}: minimize returns the unscaled loss (${loss} vs ${expectedLoss})`,
      );
    }
    for (const k of ['w', 'b']) {
      const got = Array.from(viaMinimize.get(k)!.dataSync());
      const want = Array.from(viaApply.get(k)!.dataSync());
      got.forEach((v, i) =>
        assert.ok(Math.abs(v - want[i]!) < 1e-6, `momentum ${momentum}, ${k}[${i}]: ${v} vs ${want[i]}`),
      );
    }
    a.dispose();
    b.dispose();
  }
});
