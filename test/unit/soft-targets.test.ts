/**
 * Compact soft targets (config `softTargets`): float16 logits, top-k logits with a rest bucket, the loss over kept
 * classes + rest, the format in the cache key, the config's checks, and computeSoftTargets storing each format.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ApplicationFailure } from '@temporalio/common';
import { createComputeActivities } from '../../activities/compute';
import { softTargetsKey } from '../../artifacts/digests';
import { softTargetFormat, topKProblem } from '../../common/soft-target-format';
import type { SoftTargetFormat } from '../../common/soft-target-format';
import { createLogger } from '../../config';
import { formatIssues, resolveDistillationInput } from '../../config/resolve';
import { distillationLoss, initBackend, softTargetsAt } from '../../ml';
import type { BackendInfo } from '../../ml';
import { encodeNpy } from '../../ml/npy';
import { float16Bits, float16Value } from '../../ml/quantize';
import {
  FLOAT16_MAX,
  encodeSoftTargets,
  restLogMass,
  restStatistics,
  softBatch,
  softTargetsFromStored,
} from '../../ml/soft-targets';
import type { KeptTargets } from '../../ml/soft-targets';
import { Rng } from '../../ml/rng';
import { ENSEMBLE_CHUNK_ROWS, ensembleAt } from '../../ml/losses';
import { digestOf } from '../../storage/hash';
import { LocalArtifactStore } from '../../storage/local-store';
import { decodeTensors, encodeTensors } from '../../storage/tensor-codec';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

/** `members` teachers' logits for n examples of C classes, spread like a trained net's (a few units wide). */
function randomLogits(seed: number, members: number, n: number, C: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: members }, () => Float32Array.from({ length: n * C }, () => (rng.next() - 0.5) * 12));
}

/** The distillation loss (α = 1) and its gradient w.r.t. the student logits, for dense or stored targets. */
function lossAndGrad(student: Float32Array, n: number, C: number, targets: Float32Array | KeptTargets, T: number) {
  return tf.tidy(() => {
    const batch = softBatch(targets, n, C);
    batch.fill(
      Int32Array.from({ length: n }, (_, i) => i),
      n,
    );
    const z = tf.tensor2d(student, [n, C]);
    const f = (x: tf.Tensor) => distillationLoss(x as tf.Tensor2D, { softTargets: batch.tensors(n), temperature: T });
    const { value, grad } = tf.valueAndGrad(f)(z);
    return { loss: value.dataSync()[0]!, grad: Float32Array.from(grad.dataSync()) };
  });
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('float16: every value within half a unit in the last place (2^-11 relative), saturated at ±65504', () => {
  const rng = new Rng(5);
  const values = [
    ...Array.from({ length: 2000 }, () => (rng.next() - 0.5) * 200),
    ...Array.from({ length: 200 }, () => (rng.next() - 0.5) * 1e-5),
    0,
    -0,
    1,
    65504,
  ];
  for (const v of values) {
    const back = float16Value(float16Bits(v));
    const bound = Math.max(Math.abs(v) * 2 ** -11, 2 ** -25);
    assert.ok(Math.abs(back - v) <= bound, `${v} → ${back}`);
  }
  const logits = Float32Array.from([1e6, -1e6, -Infinity, 3.14159, -2.5]);
  const stored = encodeSoftTargets([logits], 1, 5, { precision: 'float16' })['logits']!;
  assert.equal(stored.dtype, 'float16');
  assert.ok(stored.data instanceof Uint16Array);
  const decoded = Array.from(stored.data, float16Value);
  assert.deepEqual(decoded.slice(0, 3), [FLOAT16_MAX, -FLOAT16_MAX, -FLOAT16_MAX], 'finite, never ±Infinity');
  assert.ok(Math.abs(decoded[3]! - 3.14159) < 2e-3 && decoded[4] === -2.5);
  const codec = decodeTensors(
    encodeTensors({ logits: stored, c: { dtype: 'uint16', shape: [2], data: Uint16Array.from([7, 300]) } }),
  );
  assert.deepEqual(Array.from(codec['logits']!.data), Array.from(stored.data), 'the codec keeps the bits');
  assert.deepEqual(codec['c'], { dtype: 'uint16', shape: [2], data: Uint16Array.from([7, 300]) });
});

test('full float16 soft targets: probabilities within 2e-3 of float32 at T = 1 and 4', () => {
  const [n, C] = [16, 10];
  const members = randomLogits(1, 2, n, C);
  const f16 = decodeTensors(encodeTensors(encodeSoftTargets(members, n, C, { precision: 'float16' })));
  for (const T of [1, 4]) {
    const exact = softTargetsAt(members, n, C, T, 'arithmetic');
    const got = softTargetsFromStored(f16, C, T, 'arithmetic') as Float32Array;
    assert.ok(maxAbsDiff(got, exact) < 2e-3, `T=${T}: ${maxAbsDiff(got, exact)}`);
  }
});

test('the default format stores exactly the float32 logits tensor every earlier run stored', () => {
  const members = randomLogits(2, 2, 3, 4);
  const t = encodeSoftTargets(members, 3, 4, undefined);
  assert.deepEqual(Object.keys(t), ['logits']);
  assert.deepEqual(t['logits']!.shape, [2, 3, 4]);
  assert.deepEqual(Array.from(t['logits']!.data), [...members[0]!, ...members[1]!]);
});

test('top-k with k = C: the same targets and the same loss and gradient as full logits (within 1e-6)', () => {
  const [n, C] = [12, 10];
  const members = randomLogits(3, 2, n, C);
  const student = randomLogits(4, 1, n, C)[0]!;
  for (const ensemble of ['arithmetic', 'geometric'] as const)
    for (const T of [1, 4]) {
      const stored = encodeSoftTargets(members, n, C, { precision: 'float32', topK: C, ensemble });
      const kept = softTargetsFromStored(stored, C, T, ensemble) as KeptTargets;
      const dense = softTargetsAt(members, n, C, T, ensemble);
      const full = lossAndGrad(student, n, C, dense, T);
      const topk = lossAndGrad(student, n, C, kept, T);
      assert.ok(Math.abs(topk.loss - full.loss) < 1e-6 * Math.max(1, full.loss), `${ensemble} T=${T}`);
      assert.ok(maxAbsDiff(topk.grad, full.grad) < 1e-6, `${ensemble} T=${T}: gradient`);
      kept.probs.forEach((p, i) => {
        if (i % (C + 1) === C) assert.equal(p, 0, 'no rest');
      });
    }
});

test('top-k with k < C: KL over kept classes + one rest bucket, computed independently; gradient finite', () => {
  const [n, C, k, T] = [6, 10, 3, 2];
  const members = randomLogits(6, 1, n, C);
  const student = randomLogits(7, 1, n, C)[0]!;
  const kept = softTargetsFromStored(
    encodeSoftTargets(members, n, C, { precision: 'float32', topK: k }),
    C,
    T,
    'arithmetic',
  );
  const { loss, grad } = lossAndGrad(student, n, C, kept, T);
  const t = kept as KeptTargets;
  let expected = 0;
  for (let i = 0; i < n; i++) {
    const s = Array.from(student.subarray(i * C, (i + 1) * C), (v) => v / T);
    const logZ = Math.log(s.reduce((a, v) => a + Math.exp(v), 0));
    const classes = Array.from(t.classes.subarray(i * k, (i + 1) * k));
    const restZ = s.filter((_, c) => !classes.includes(c));
    const logQ = [...classes.map((c) => s[c]! - logZ), Math.log(restZ.reduce((a, v) => a + Math.exp(v), 0)) - logZ];
    const p = Array.from(t.probs.subarray(i * (k + 1), (i + 1) * (k + 1)));
    expected += p.reduce((a, pi, b) => a + pi * (Math.log(pi) - logQ[b]!), 0) / n;
  }
  assert.ok(Math.abs(loss - T * T * expected) < 1e-5, `${loss} vs ${T * T * expected}`);
  assert.ok(grad.every(Number.isFinite));
  // The kept classes are the teacher's k largest, in order.
  const row = Array.from(members[0]!.subarray(0, C));
  assert.deepEqual(Array.from(t.classes.subarray(0, k)), [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, k));
  // Extreme student logits and k = 1: still finite.
  const extreme = Float32Array.from({ length: n * C }, (_, i) => (i % 3 === 0 ? 80 : -80));
  const one = softTargetsFromStored(
    encodeSoftTargets(members, n, C, { precision: 'float16', topK: 1 }),
    C,
    1,
    'arithmetic',
  );
  const e = lossAndGrad(extreme, n, C, one, 1);
  assert.ok(Number.isFinite(e.loss) && e.grad.every(Number.isFinite), `loss ${e.loss}`);
});

test('the rest bucket: exact at T = 1, for equal logits and for one rest class; between the one-number rules', () => {
  const row = Float32Array.from([5, 2, -1, -3, 0.5, -7]);
  const [mean, lme] = restStatistics(row, [0]);
  const rest = [2, -1, -3, 0.5, -7];
  const trueLog = (T: number) => Math.log(rest.reduce((a, z) => a + Math.exp(z / T), 0));
  assert.ok(Math.abs(restLogMass(5, mean, lme, 1) - trueLog(1)) < 1e-12);
  for (const T of [2, 4, 20]) {
    const got = restLogMass(5, mean, lme, T);
    const allAtMean = Math.log(5) + mean / T;
    const allAtLme = Math.log(5) + lme / T;
    assert.ok(allAtMean < got && got < allAtLme, `T=${T}`);
    assert.ok(Math.abs(got - trueLog(T)) < Math.abs(allAtMean - trueLog(T)), `T=${T}: closer than the mean rule`);
  }
  const [m1, l1] = restStatistics(Float32Array.from([3, 1, 1, 1]), [0]);
  for (const T of [0.5, 1, 3, 50]) assert.ok(Math.abs(restLogMass(3, m1, l1, T) - (Math.log(3) + 1 / T)) < 1e-12);
  assert.equal(restLogMass(0, 0, 0, 2), -Infinity);
  // k = C − 1: the rest is one class, so the kept-class probabilities are the full softmax's.
  const [n, C, T] = [5, 6, 3];
  const members = randomLogits(8, 1, n, C);
  const kept = softTargetsFromStored(
    encodeSoftTargets(members, n, C, { precision: 'float32', topK: C - 1 }),
    C,
    T,
    'arithmetic',
  ) as KeptTargets;
  const dense = softTargetsAt(members, n, C, T, 'arithmetic');
  for (let i = 0; i < n; i++)
    for (let s = 0; s < C - 1; s++)
      assert.ok(Math.abs(kept.probs[i * C + s]! - dense[i * C + kept.classes[i * (C - 1) + s]!]!) < 1e-6);
});

test('a geometric top-k set is one member, the mean logits; an arithmetic one keeps every teacher', () => {
  const [n, C] = [4, 10];
  const members = randomLogits(9, 3, n, C);
  const geo = encodeSoftTargets(members, n, C, { precision: 'float32', topK: 2, ensemble: 'geometric' });
  const arith = encodeSoftTargets(members, n, C, { precision: 'float16', topK: 2, ensemble: 'arithmetic' });
  assert.deepEqual(geo['values']!.shape, [1, n, 2]);
  assert.deepEqual(arith['values']!.shape, [3, n, 2]);
  assert.deepEqual(arith['rest']!.shape, [3, n, 2]);
  assert.equal(arith['classes']!.dtype, 'uint8');
  assert.equal(
    encodeSoftTargets([new Float32Array(300)], 1, 300, { precision: 'float32', topK: 1 })['classes']!.dtype,
    'uint16',
  );
});

test('the cache key: unchanged for the default format, different for every other format', () => {
  const teachers = ['t1', 't2'];
  assert.equal(softTargetsKey('plan', teachers), digestOf({ v: 1, plan: 'plan', teachers }, 24), 'as before');
  assert.equal(softTargetsKey('plan', teachers, softTargetFormat({})), softTargetsKey('plan', teachers));
  assert.equal(softTargetFormat({ softTargets: { precision: 'float32' } }), undefined);
  const formats: SoftTargetFormat[] = [
    { precision: 'float16' },
    { precision: 'float32', topK: 5, ensemble: 'arithmetic' },
    { precision: 'float32', topK: 3, ensemble: 'arithmetic' },
    { precision: 'float16', topK: 3, ensemble: 'arithmetic' },
    { precision: 'float16', topK: 3, ensemble: 'geometric' },
  ];
  const keys = [softTargetsKey('plan', teachers), ...formats.map((f) => softTargetsKey('plan', teachers, f))];
  assert.equal(new Set(keys).size, keys.length);
  assert.deepEqual(softTargetFormat({ softTargets: { precision: 'float32', topK: 3 }, ensemble: 'geometric' }), {
    precision: 'float32',
    topK: 3,
    ensemble: 'geometric',
  });
});

test('config: softTargets is optional (mnist-quick unchanged); a bad k is refused naming softTargets.topK', () => {
  const quick = (softTargets?: unknown, more: Record<string, unknown> = {}) =>
    resolveDistillationInput({
      preset: 'mnist-quick',
      overrides: { ...more, ...(softTargets ? { softTargets } : {}) },
    });
  const plain = quick();
  assert.ok(plain.ok && !('softTargets' in plain.config), 'no key added: config digests stay');
  const topk = quick({ topK: 3 });
  assert.deepEqual(topk.ok && topk.config.softTargets, { precision: 'float32', topK: 3 });
  const refused = (softTargets: unknown, more?: Record<string, unknown>) => {
    const r = quick(softTargets, more);
    assert.equal(r.ok, false);
    return r.ok ? '' : formatIssues(r.issues);
  };
  assert.equal(refused({ topK: 0 }), 'invalid input: softTargets.topK: keep at least 1 class');
  assert.equal(refused({ topK: 11 }), 'invalid input: softTargets.topK: k = 11 is more than the 10 classes of mnist');
  assert.equal(refused({ topK: 2.5 }), 'invalid input: softTargets.topK: a whole number of classes');
  assert.match(refused({ precision: 'bfloat16' }), /^invalid input: softTargets\.precision: Invalid option/);
  assert.match(refused({ topk: 3 }), /^invalid input: softTargets\.topk: unknown key/);
  assert.match(
    refused({ topK: 3 }, { teachers: { softTargets: { key: 'abc' } } }),
    /^invalid input: softTargets: stored soft targets \(teachers\.softTargets\) are used as they were stored/,
  );
  assert.equal(topKProblem(10, 10, 'mnist'), undefined);
});

test('computeSoftTargets stores each format, names it in the manifest, and refuses a k past the classes', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'soft-formats-'));
  const store = new LocalArtifactStore(path.join(dir, 'store'));
  const logger = createLogger({ name: 't', level: 'silent' });
  const compute = createComputeActivities({ store, logger, backend, dataRoots: [dir] });
  const data = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 100, trainLimit: 2000 },
    transfer: { kind: 'fraction', fraction: 0.5 },
    seed: 3,
  });
  const n = data.counts.transfer;
  const logits = randomLogits(10, 1, n, 10)[0]!;
  writeFileSync(path.join(dir, 't.npy'), encodeNpy([n, 10], logits));
  const { teachers } = await compute.importTeachers({
    imports: [{ kind: 'npy', path: path.join(dir, 't.npy'), outputs: 'logits' }],
    data,
  });
  const soft = async (key: string, format?: SoftTargetFormat) =>
    compute.computeSoftTargets({ key, data, teachers: [], imported: teachers, ...(format ? { format } : {}) });
  const full = await soft('full');
  const f16 = await soft('f16', { precision: 'float16' });
  const top3 = await soft('top3', { precision: 'float16', topK: 3, ensemble: 'arithmetic' });
  assert.equal(full.format, undefined);
  assert.deepEqual(top3.format, { precision: 'float16', topK: 3, ensemble: 'arithmetic' });
  const manifest = JSON.parse(new TextDecoder().decode(await store.get(top3.manifest))) as { format?: unknown };
  assert.deepEqual(manifest.format, top3.format);
  assert.ok(!('format' in JSON.parse(new TextDecoder().decode(await store.get(full.manifest)))));
  // Payload per example: 40 B of float32 logits, 20 B of float16, 3 B of classes + (3 values + 2 rest) × 2 B
  // of float16; the header adds < 1 B.
  const payload = (s: typeof full) => s.logits.bytes / n;
  assert.ok(payload(full) >= 40 && payload(full) < 41, `${payload(full)}`);
  assert.ok(payload(f16) >= 20 && payload(f16) < 21, `${payload(f16)}`);
  assert.ok(payload(top3) >= 13 && payload(top3) < 14, `${payload(top3)}`);
  const stored = decodeTensors(await store.get(top3.logits));
  assert.deepEqual(Object.keys(stored).sort(), ['classes', 'rest', 'values']);
  await assert.rejects(soft('bad', { precision: 'float32', topK: 11, ensemble: 'arithmetic' }), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'InvalidInput');
    assert.equal(err.message, 'invalid input: softTargets.topK: k = 11 is more than the 10 classes of mnist');
    return true;
  });
});

test('the ensemble at T is combined in chunks of rows, equal to one piece up to float32 rounding', () => {
  const n = ENSEMBLE_CHUNK_ROWS * 2 + 7;
  const C = 3;
  const rng = new Rng(5);
  const members = [0, 1].map(() => Float32Array.from({ length: n * C }, () => (rng.next() - 0.5) * 30));
  for (const mode of ['arithmetic', 'geometric'] as const) {
    const whole = tf.tidy(() => {
      const stacked = tf.stack(members.map((m) => tf.tensor2d(m, [n, C]))) as tf.Tensor3D;
      return ensembleAt(stacked, 4, mode).dataSync();
    });
    // Vectorised kernels may round a row differently at another offset in the tensor: the last bit, no more.
    const chunked = softTargetsAt(members, n, C, 4, mode);
    const worst = chunked.reduce((w, p, i) => Math.max(w, Math.abs(p - whole[i]!)), 0);
    assert.equal(chunked.length, whole.length);
    assert.ok(worst < 1e-6, `${mode}: largest difference ${worst}`);
    assert.ok(Math.abs(chunked.subarray(0, C).reduce((a, b) => a + b, 0) - 1) < 1e-6, 'rows are distributions');
  }
});
