import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Rng, initBackend } from '../../ml';
import { classCovariance, clusterClasses } from '../../ml/specialists';

before(async () => {
  await initBackend({ requested: 'auto' });
});

/**
 * Predicted probabilities of a generalist that confuses classes only within blocks: each example
 * puts ~90 % of its mass, randomly split, on one block; the rest is spread thinly.
 */
function blockProbs(blocks: number[][], C: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    const block = blocks[i % blocks.length]!;
    const w = block.map(() => rng.next() + 0.05);
    const s = w.reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) out[i * C + c] = 0.1 / C;
    block.forEach((c, j) => (out[i * C + c]! += (0.9 * w[j]!) / s));
  }
  return out;
}

const sorted = (sets: number[][]): number[][] =>
  sets.map((s) => [...s].sort((a, b) => a - b)).sort((a, b) => a[0]! - b[0]!);

test('classCovariance matches the textbook formula', () => {
  const rng = new Rng(2);
  const n = 9;
  const C = 4;
  const p = Float32Array.from({ length: n * C }, () => rng.next());
  const cov = classCovariance(p, n, C);
  for (let a = 0; a < C; a++) {
    for (let b = 0; b < C; b++) {
      let ma = 0,
        mb = 0,
        s = 0;
      for (let i = 0; i < n; i++) {
        ma += p[i * C + a]! / n;
        mb += p[i * C + b]! / n;
      }
      for (let i = 0; i < n; i++) s += ((p[i * C + a]! - ma) * (p[i * C + b]! - mb)) / n;
      assert.ok(Math.abs(cov[a * C + b]! - s) < 1e-6, `(${a},${b}) ${cov[a * C + b]} vs ${s}`);
    }
  }
});

test('k-means on covariance columns recovers blocks of confusable classes, whatever the seed', () => {
  // Interleaved blocks of different sizes, so neither class order nor equal sizes can help.
  const blocks = [
    [0, 3, 6, 9, 12],
    [1, 4, 7],
    [2, 5, 8, 10, 11, 13],
  ];
  const cov = classCovariance(blockProbs(blocks, 14, 300, 1), 300, 14);
  for (const seed of [1, 2, 3, 4, 5])
    assert.deepEqual(clusterClasses(cov, 14, { k: 3, seed }), sorted(blocks), `seed ${seed}`);
});

test('clustering is deterministic for a seed and always a partition', () => {
  const C = 40;
  const rng = new Rng(8);
  const probs = Float32Array.from({ length: 200 * C }, () => rng.next() ** 4);
  const cov = classCovariance(probs, 200, C);
  const a = clusterClasses(cov, C, { k: 6, seed: 11 });
  assert.deepEqual(clusterClasses(cov, C, { k: 6, seed: 11 }), a);
  assert.equal(a.length, 6);
  assert.deepEqual(
    a.flat().sort((x, y) => x - y),
    Array.from({ length: C }, (_, c) => c),
  );
  a.forEach((s) => assert.ok(s.length > 0));
});

test('minSize grows small clusters from the nearest spare classes', () => {
  // Natural clusters of sizes 2, 5, 5; minSize 3 forces one class into the pair.
  const blocks = [
    [0, 1],
    [2, 3, 4, 5, 6],
    [7, 8, 9, 10, 11],
  ];
  const cov = classCovariance(blockProbs(blocks, 12, 300, 3), 300, 12);
  assert.deepEqual(clusterClasses(cov, 12, { k: 3, seed: 1 }), blocks);
  const sets = clusterClasses(cov, 12, { k: 3, seed: 1, minSize: 3 });
  assert.equal(sets.length, 3);
  sets.forEach((s) => assert.ok(s.length >= 3, `subset ${JSON.stringify(s)}`));
  assert.deepEqual(
    sets.flat().sort((x, y) => x - y),
    Array.from({ length: 12 }, (_, c) => c),
  );
  assert.ok(sets.some((s) => s.includes(0) && s.includes(1) && s.length === 3));
  assert.throws(() => clusterClasses(cov, 12, { k: 3, seed: 1, minSize: 5 }), /exceeds/);
});

test('hundreds of classes and dozens of clusters stay fast', () => {
  const C = 300;
  const k = 30;
  const blocks = Array.from({ length: k }, (_, b) => Array.from({ length: C / k }, (_, j) => j * k + b));
  const cov = classCovariance(blockProbs(blocks, C, 1200, 4), 1200, C);
  for (const seed of [1, 2, 3]) {
    const started = Date.now();
    const sets = clusterClasses(cov, C, { k, seed, minSize: 2 });
    const ms = Date.now() - started;
    assert.ok(ms < 3000, `${ms} ms`);
    // Blocks this clean are recovered exactly (the restarts guard against unlucky seedings).
    assert.deepEqual(sets, sorted(blocks), `seed ${seed}`);
  }
});
