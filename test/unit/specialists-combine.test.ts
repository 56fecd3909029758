import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Rng, initBackend } from '../../ml';
import { combinationObjective, combine } from '../../ml/specialists';
import type { SpecialistProbs } from '../../ml/specialists';

before(async () => {
  await initBackend({ requested: 'auto' });
});

/** A random distribution over k outcomes, peaked enough to look like a classifier's. */
function randomDist(rng: Rng, k: number, sharpness = 2): number[] {
  const e = Array.from({ length: k }, () => Math.exp(sharpness * (rng.next() * 2 - 1) * 2));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function kl(p: readonly number[], q: readonly number[]): number {
  return p.reduce((s, pi, i) => s + (pi > 0 ? pi * Math.log(pi / q[i]!) : 0), 0);
}

/** The objective in float64, written independently of the tensor code: q seen through each specialist by hand. */
function objective(
  q: readonly number[],
  pg: readonly number[],
  specs: Array<{ subset: readonly number[]; p: readonly number[] }>,
): number {
  let total = kl(pg, q);
  for (const { subset, p } of specs) {
    const view = subset.map((c) => q[c]!);
    view.push(q.reduce((s, v, c) => s + (subset.includes(c) ? 0 : v), 0));
    total += kl(p, view);
  }
  return total;
}

const rowOf = (a: Float32Array, i: number, C: number): number[] => Array.from(a.subarray(i * C, i * C + C));

test('inputs with no active specialist keep the generalist distribution exactly', async () => {
  const C = 5;
  const pg = Float32Array.from([
    0.1,
    0.1,
    0.6,
    0.1,
    0.1, // top class 2: no specialist covers it
    0.7,
    0.1,
    0.1,
    0.05,
    0.05, // top class 0: specialist 0 fires
    0.05,
    0.05,
    0.1,
    0.2,
    0.6, // top class 4: none
  ]);
  const spec: SpecialistProbs = {
    subset: [0, 1],
    probs: Float32Array.from([0.3, 0.3, 0.4, 0.2, 0.7, 0.1, 0.5, 0.4, 0.1]),
  };
  const res = await combine(pg, 3, C, [spec]);
  assert.deepEqual(res.active, [[], [0], []]);
  assert.deepEqual(Array.from(res.activeCount), [0, 1, 0]);
  assert.deepEqual(rowOf(res.q, 0, C), rowOf(pg, 0, C));
  assert.deepEqual(rowOf(res.q, 2, C), rowOf(pg, 2, C));
  assert.equal(res.loss[0], 0);
  assert.notDeepEqual(rowOf(res.q, 1, C), rowOf(pg, 1, C));
});

test("top-N selects every specialist meeting the generalist's N best classes", async () => {
  // combine() uses the package loader's rule.
  const { activeSpecialists } = await import('../../ml/specialists/combination-loader.mjs');
  const pg = Float32Array.from([0.5, 0.3, 0.15, 0.05]);
  const subsets = [[0], [1, 3], [2], [3]];
  assert.deepEqual(activeSpecialists(pg, 1, 4, subsets, 1), [[0]]);
  assert.deepEqual(activeSpecialists(pg, 1, 4, subsets, 2), [[0, 1]]);
  assert.deepEqual(activeSpecialists(pg, 1, 4, subsets, 3), [[0, 1, 2]]);
});

test('with full distributions everywhere the optimum is their arithmetic mean', async () => {
  const rng = new Rng(5);
  const n = 6;
  const C = 7;
  const M = 3;
  const all = Array.from({ length: C }, (_, c) => c);
  const pg = Float32Array.from(Array.from({ length: n }, () => randomDist(rng, C)).flat());
  // "Specialists" covering every class: no dustbin in q, so each term is KL(p_m ‖ q).
  const dists = Array.from({ length: M }, () => Array.from({ length: n }, () => randomDist(rng, C)));
  const specs = dists.map((rows) => ({ subset: all, probs: Float32Array.from(rows.flatMap((r) => [...r, 0])) }));
  const res = await combine(pg, n, C, specs);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    assert.equal(res.activeCount[i], M);
    for (let c = 0; c < C; c++) {
      const mean = (pg[i * C + c]! + dists.reduce((s, d) => s + d[i]![c]!, 0)) / (M + 1);
      worst = Math.max(worst, Math.abs(res.q[i * C + c]! - mean));
    }
  }
  assert.ok(worst < 1e-5, `max |q − mean| = ${worst} after ${res.iterations} iterations`);
  assert.ok(res.iterations <= 50, `${res.iterations} iterations`);
});

test('the dustbin is the mass of q outside the subset (hand-made 4-class case)', async () => {
  // q = (0.1, 0.2, 0.3, 0.4), S = {1, 3}: q^m = (q1, q3, q0 + q2) = (0.2, 0.4, 0.4).
  const q = Float32Array.from([0.1, 0.2, 0.3, 0.4]);
  const spec: SpecialistProbs = { subset: [1, 3], probs: Float32Array.from([0.5, 0.25, 0.25]) };
  const [value] = combinationObjective(q, q, 1, 4, [spec], [[0]]);
  const byHand = 0.5 * Math.log(0.5 / 0.2) + 0.25 * Math.log(0.25 / 0.4) + 0.25 * Math.log(0.25 / 0.4);
  assert.ok(Math.abs(value! - byHand) < 1e-6, `${value} vs ${byHand}`);

  // Solved: specialist cells {1}, {3}, {0, 2} partition the classes, so the optimum (KKT, λ = 2) is
  // q1 = (pg1 + a)/2, q3 = (pg3 + b)/2, and the dustbin cell gets (pg0 + pg2 + d)/2 split like pg.
  const pg = Float32Array.from([0.1, 0.5, 0.3, 0.1]);
  const [a, b, d] = [0.2, 0.1, 0.7];
  const res = await combine(pg, 1, 4, [{ subset: [1, 3], probs: Float32Array.from([a, b, d]) }]);
  const cell = (0.1 + 0.3 + d) / 2;
  const expected = [(cell * 0.1) / 0.4, (0.5 + a) / 2, (cell * 0.3) / 0.4, (0.1 + b) / 2];
  expected.forEach((v, c) => assert.ok(Math.abs(res.q[c]! - v) < 1e-5, `q${c} = ${res.q[c]} vs ${v}`));
});

test('the loss never increases and ends at a minimum of the independently computed objective', async () => {
  const rng = new Rng(21);
  const n = 24;
  const C = 12;
  const subsets = [
    [0, 1, 2, 3],
    [2, 3, 4, 5, 6],
    [7, 8],
    [8, 9, 10, 11],
    [1, 5, 9],
  ];
  const pg = Float32Array.from(Array.from({ length: n }, () => randomDist(rng, C)).flat());
  const specRows = subsets.map((s) => Array.from({ length: n }, () => randomDist(rng, s.length + 1)));
  const specs = subsets.map((subset, m) => ({ subset, probs: Float32Array.from(specRows[m]!.flat()) }));
  const res = await combine(pg, n, C, specs, { topN: 3, recordLoss: true });
  const history = res.lossHistory!;
  for (let i = 0; i < n; i++) {
    const h = history[i]!;
    assert.ok(res.activeCount[i]! > 0 && h.length > 1);
    for (let t = 1; t < h.length; t++)
      assert.ok(h[t]! <= h[t - 1]!, `input ${i}: loss rose at iteration ${t}: ${h[t - 1]} → ${h[t]}`);
    assert.ok(h[h.length - 1]! < h[0]! - 1e-3, `input ${i}: ${h[0]} → ${h[h.length - 1]}`);
    // The tracked loss (initial + accepted changes) agrees with the loss recomputed at the end.
    assert.ok(
      Math.abs(h[h.length - 1]! - res.loss[i]!) < 1e-4,
      `input ${i}: tracked ${h[h.length - 1]} vs ${res.loss[i]}`,
    );

    const q = rowOf(res.q, i, C);
    assert.ok(Math.abs(q.reduce((s, v) => s + v, 0) - 1) < 1e-5);
    const terms = res.active[i]!.map((m) => ({ subset: subsets[m]!, p: specRows[m]![i]! }));
    const best = objective(q, rowOf(pg, i, C), terms);
    assert.ok(Math.abs(best - res.loss[i]!) < 1e-4, `input ${i}: reported ${res.loss[i]} vs ${best}`);
    // No nearby distribution does better (the objective is convex in q).
    for (let k = 0; k < 20; k++) {
      const z = q.map((v) => Math.log(v) + 0.05 * (rng.next() * 2 - 1));
      const s = z.reduce((acc, v) => acc + Math.exp(v), 0);
      const near = objective(
        z.map((v) => Math.exp(v) / s),
        rowOf(pg, i, C),
        terms,
      );
      assert.ok(near >= best - 1e-6, `input ${i}: a perturbation lowers the objective ${best} → ${near}`);
    }
  }

  // Inputs are independent problems: solving them in small chunks changes nothing.
  const chunked = await combine(pg, n, C, specs, { topN: 3, chunkSize: 5 });
  chunked.q.forEach((v, k) => assert.ok(Math.abs(v - res.q[k]!) < 1e-6));
});
