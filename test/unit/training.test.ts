import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { NonFiniteLossError, buildNet, exportWeights, initBackend, train } from '../../ml';
import type { TrainConfig, TrainData, TrainSnapshot } from '../../ml';

before(async () => {
  await initBackend({ requested: 'auto' });
});

/** Two separable blobs drawn as 8×8 images: class 0 bright on the left, class 1 on the right. */
function toyData(n: number): TrainData {
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
    const history = await train(net, toyData(128), cfg);
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
