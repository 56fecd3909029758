import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Rng, buildNet, initBackend, predictLogits } from '../../ml';
import { alignedBatches } from '../../ml/batches';

before(async () => {
  await initBackend({ requested: 'auto' });
});

test('aligned batches: each row at its fixed batch and slot, whatever the call covers', () => {
  assert.deepEqual(alignedBatches(7, 3), [
    { start: 0, count: 3, slot: 0 },
    { start: 3, count: 3, slot: 0 },
    { start: 6, count: 1, slot: 0 },
  ]);
  assert.deepEqual(alignedBatches(7, 3, 2), [
    { start: 0, count: 1, slot: 2 },
    { start: 1, count: 3, slot: 0 },
    { start: 4, count: 3, slot: 0 },
  ]);
  assert.deepEqual(alignedBatches(2, 10, 4), [{ start: 0, count: 2, slot: 4 }]);
  assert.deepEqual(alignedBatches(0, 10, 4), []);
});

test('inference on a block of rows gives the bits the whole set gives those rows', async () => {
  // Without fixed batches this fails on AVX2 CPUs (oneDNN and Eigen alike): a GEMM's row depends on the batch size.
  const net = buildNet({ kind: 'mlp', hidden: [64] }, { inputShape: [28, 28], numClasses: 10, seed: 4 });
  const rng = new Rng(8);
  const images = Uint8Array.from({ length: 2600 * 784 }, () => rng.int(0, 255));
  const indices = Int32Array.from({ length: 2500 }, (_, i) => (i * 7) % 2600);
  const whole = await predictLogits(net, images, [28, 28], indices);
  for (const [start, end] of [
    [0, 300],
    [300, 600],
    [999, 1001],
    [1200, 2500],
    [2499, 2500],
  ] as const) {
    const block = await predictLogits(net, images, [28, 28], indices.subarray(start, end), start);
    assert.deepEqual(
      new Uint32Array(block.buffer),
      new Uint32Array(whole.slice(start * 10, end * 10).buffer),
      `rows ${start}..${end}`,
    );
  }
  net.dispose();
});
