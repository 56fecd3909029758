import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  NonFiniteLossError,
  Rng,
  buildNet,
  exportWeights,
  initBackend,
  predictLogits,
  softTargetsAt,
  train,
} from '../../ml';
import { fillBatch } from '../../ml/batches';
import { ensembleAt } from '../../ml/losses';
import type { InMemoryExamples, TrainConfig, TrainData, TrainSnapshot } from '../../ml';

before(async () => {
  await initBackend({ requested: 'auto' });
});

/** Two separable blobs drawn as 8×8 images: class 0 bright on the left, class 1 on the right. */
function toyData(n: number): TrainData & InMemoryExamples {
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++)
        images[i * 64 + y * 8 + x] = (labels[i] === 0 ? x < 4 : x >= 4) ? 200 + ((i * 7 + x) % 50) : (i * 13 + y) % 40;
  }
  return { images, labels, side: [8, 8], indices: Int32Array.from({ length: n }, (_, i) => i) };
}

const cfg: TrainConfig = {
  epochs: 3,
  batchSize: 16,
  optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 },
  seed: 11,
  jitter: 1,
};
const spec = { kind: 'mlp' as const, hidden: [16], inputDropout: 0.1, hiddenDropout: 0.2, maxNorm: 2 };

function flat(w: ReturnType<typeof exportWeights>): number[] {
  return Object.keys(w)
    .sort()
    .flatMap((k) => Array.from(w[k]!.data));
}

test('training learns, and the same seed gives the same weights', async () => {
  const runs: number[][] = [];
  for (let r = 0; r < 2; r++) {
    const net = buildNet(spec, { inputShape: [8, 8], numClasses: 2, seed: 3 });
    const tensorsBefore = tf.memory().numTensors;
    const history = await train(net, toyData(128), cfg);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'training leaves no tensor behind (optimizer slots included)');
    assert.equal(history.length, 3);
    assert.ok(history[2]!.trainAccuracy > 0.9, `accuracy ${history[2]!.trainAccuracy}`);
    runs.push(flat(exportWeights(net)));
    net.dispose();
  }
  runs[0]!.forEach((v, i) => assert.ok(Math.abs(v - runs[1]![i]!) < 1e-6));
});

test('resuming from an epoch checkpoint reproduces the uninterrupted run', async () => {
  const full = buildNet(spec, { inputShape: [8, 8], numClasses: 2, seed: 3 });
  let snap: TrainSnapshot | undefined;
  await train(full, toyData(96), cfg, {
    onEpochEnd: async (s, take) => {
      if (s.epoch === 1) snap = take();
    },
  });
  const resumed = buildNet(spec, { inputShape: [8, 8], numClasses: 2, seed: 999 });
  const history = await train(resumed, toyData(96), cfg, {}, snap);
  assert.equal(history.length, 3);
  assert.deepEqual(
    history.map((h) => h.epoch),
    [1, 2, 3],
  );
  const a = flat(exportWeights(full));
  const b = flat(exportWeights(resumed));
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-5, `param ${i}: ${v} vs ${b[i]}`));
  full.dispose();
  resumed.dispose();
});

test("max-norm bounds every hidden unit's incoming weight vector", async () => {
  const net = buildNet({ kind: 'mlp', hidden: [8], maxNorm: 0.5 }, { inputShape: [8, 8], numClasses: 2, seed: 1 });
  await train(net, toyData(64), { ...cfg, epochs: 1, optimizer: { kind: 'sgd', learningRate: 0.5, momentum: 0.9 } });
  const w = exportWeights(net)['w0']!;
  const [rows, cols] = w.shape as [number, number];
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += w.data[i * cols + j]! ** 2;
    assert.ok(Math.sqrt(s) <= 0.5 + 1e-4, `unit ${j} norm ${Math.sqrt(s)}`);
  }
  net.dispose();
});

test('max-norm rescales exactly the columns over the norm and leaves a net under it bit for bit', () => {
  const net = buildNet({ kind: 'mlp', hidden: [5], maxNorm: 3.5 }, { inputShape: [2, 2], numClasses: 2, seed: 1 });
  const w0 = net.params.get('w0')!;
  const initial = Array.from(w0.dataSync());
  net.applyConstraints();
  assert.deepEqual(Array.from(w0.dataSync()), initial, 'glorot columns are far under 3.5');
  const cols = 5;
  w0.assign(
    tf.tensor2d(
      initial.map((v, i) => (i % cols === 0 ? v * 1000 : v)),
      [4, cols],
    ),
  );
  net.applyConstraints();
  const after = Array.from(w0.dataSync());
  const norm0 = Math.hypot(...after.filter((_, i) => i % cols === 0));
  assert.ok(Math.abs(norm0 - 3.5) < 1e-4, `column 0 norm ${norm0}`);
  after.forEach((v, i) => i % cols === 0 || assert.equal(v, initial[i], `w0[${i}] is in a column under the norm`));
  net.dispose();
});

test('a loss that becomes non-finite stops training with epoch and batch named', async () => {
  const net = buildNet({ kind: 'mlp', hidden: [8] }, { inputShape: [8, 8], numClasses: 2, seed: 1 });
  await assert.rejects(
    train(net, toyData(64), { ...cfg, epochs: 5, optimizer: { kind: 'sgd', learningRate: 1e30, momentum: 0.9 } }),
    (err: unknown) => err instanceof NonFiniteLossError && /at epoch \d+, batch \d+/.test(err.message),
  );
  net.dispose();
});

test('cancellation between batches stops training', async () => {
  const net = buildNet({ kind: 'mlp', hidden: [8] }, { inputShape: [8, 8], numClasses: 2, seed: 1 });
  let batches = 0;
  await assert.rejects(
    train(net, toyData(64), cfg, {
      progressEvery: 1,
      onBatch: () => {
        batches++;
      },
      throwIfCancelled: () => {
        if (batches >= 2) throw new Error('cancelled');
      },
    }),
    /cancelled/,
  );
  assert.equal(batches, 2);
  net.dispose();
});

test('online distillation: the teacher sees each batch as the student does; unjittered it equals stored', async () => {
  const teacher = buildNet({ kind: 'mlp', hidden: [8] }, { inputShape: [8, 8], numClasses: 2, seed: 5 });
  const data = toyData(64);
  const T = 3;
  const seen: number[][] = [];
  const online = (x: tf.Tensor2D) => {
    seen.push(Array.from(x.dataSync()));
    return ensembleAt(tf.stack([teacher.forward(x)]) as tf.Tensor3D, T, 'arithmetic');
  };
  const plain = { ...cfg, jitter: 0, temperature: T, alpha: 0.7 };
  const stored = await predictLogits(teacher, data.images, data.side, data.indices);
  const targets = softTargetsAt([stored], 64, 2, T, 'arithmetic');
  const student = () => buildNet({ kind: 'mlp', hidden: [16] }, { inputShape: [8, 8], numClasses: 2, seed: 9 });
  const [a, b] = [student(), student()];
  await train(a, { ...data, softTargets: targets }, plain);
  await train(b, { ...data, teacher: online }, plain);
  const [wa, wb] = [flat(exportWeights(a)), flat(exportWeights(b))];
  assert.ok(
    wa.every((v, i) => Math.abs(v - wb[i]!) < 1e-4),
    'no jitter: online and stored targets train alike',
  );
  // With jitter the teacher gets the shifted batch itself: rows that are none of the unshifted images.
  const all = new Float32Array(64 * 64);
  fillBatch(data.images, data.side, data.indices, 0, 64, all, 0, new Rng(1));
  const images = new Set(Array.from({ length: 64 }, (_, i) => all.subarray(i * 64, (i + 1) * 64).join(',')));
  const rowsOf = (x: number[]) =>
    Array.from({ length: x.length / 64 }, (_, i) => x.slice(i * 64, (i + 1) * 64).join(','));
  assert.ok(
    seen.flatMap(rowsOf).every((r) => images.has(r)),
    'no jitter: the teacher saw the images as they are',
  );
  seen.length = 0;
  const c = student();
  await train(c, { ...data, teacher: online }, { ...plain, epochs: 1, jitter: 2 });
  assert.equal(seen.length, Math.ceil(64 / cfg.batchSize), 'one teacher pass per batch');
  const shifted = seen.flatMap(rowsOf).filter((r) => !images.has(r)).length;
  assert.ok(shifted > 32, `the teacher saw the jittered views (${shifted} of 64 rows shifted)`);
  [teacher, a, b, c].forEach((n) => n.dispose());
});

test('soft targets given as a reader train as the targets themselves; in memory it is read once, whole', async () => {
  const teacher = buildNet({ kind: 'mlp', hidden: [8] }, { inputShape: [8, 8], numClasses: 2, seed: 5 });
  const data = toyData(64);
  const plain = { ...cfg, jitter: 0, temperature: 3, alpha: 0.7 };
  const stored = await predictLogits(teacher, data.images, data.side, data.indices);
  const targets = softTargetsAt([stored], 64, 2, 3, 'arithmetic');
  const reads: (readonly (readonly [number, number])[])[] = [];
  const reader = {
    read: (ranges: readonly (readonly [number, number])[]) => {
      reads.push(ranges);
      return Promise.resolve(targets.slice());
    },
  };
  const student = () => buildNet({ kind: 'mlp', hidden: [16] }, { inputShape: [8, 8], numClasses: 2, seed: 9 });
  const [a, b] = [student(), student()];
  await train(a, { ...data, softTargets: targets }, plain);
  await train(b, { ...data, softTargets: reader }, plain);
  assert.deepEqual(flat(exportWeights(b)), flat(exportWeights(a)));
  assert.deepEqual(reads, [[[0, 64]]], 'one read of every row, for all epochs');
});
