/**
 * Quantised exports (issue 11): the bytes are what tf.io dequantises, each weight within its quantisation step,
 * the files a quarter or half the size, and a quantised export loads and predicts under plain @tensorflow/tfjs,
 * in `chrysalis predict`, and in the evaluateExport activity.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ApplicationFailure } from '@temporalio/common';
import { repoRoot } from '../../config/env';
import { createLogger } from '../../config/logger';
import { buildNet, encodeIdx, initBackend, loadDataset, train } from '../../ml';
import type { BackendInfo, Net } from '../../ml';
import { exportLayersModel } from '../../ml/export';
import type { ExportedModel } from '../../ml/export';
import { float16Bits, quantizeExport, toUint8 } from '../../ml/quantize';
import { createComputeActivities } from '../../activities/compute';
import { publishModel } from '../../artifacts/models';
import { keys } from '../../common/store-keys';
import { LocalArtifactStore } from '../../storage/local-store';
import { runPlainTfjs } from '../helpers/plain-tfjs';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'tensorflow' });
});

interface Spec {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: { dtype: 'float16' | 'uint8'; scale?: number; min?: number };
}

const specsOf = (e: ExportedModel) => (e.modelJson['weightsManifest'] as { weights: Spec[] }[])[0]!.weights;

/** The weights as tf.io decodes them on load (dequantised), by name. */
function decoded(e: ExportedModel): Record<string, Float32Array> {
  const map = tf.io.decodeWeights(e.weights.slice().buffer, specsOf(e));
  return Object.fromEntries(Object.entries(map).map(([k, t]) => [k, t.dataSync() as Float32Array]));
}

/**
 * Every non-negative half, ascending, as tfjs's own float16 decoder reads the codes 0x0000–0x7c00; Infinity
 * (0x7c00) stands at 65536, one step past the largest half, which is where IEEE rounding places it.
 */
const halves = (() => {
  const codes = Uint16Array.from({ length: 0x7c01 }, (_, i) => i);
  const spec = {
    name: 'h',
    shape: [codes.length],
    dtype: 'float32' as const,
    quantization: { dtype: 'float16' as const },
  };
  const values = tf.io.decodeWeights(codes.buffer, [spec])['h']!.dataSync() as Float32Array;
  assert.equal(values[0x7c00], Infinity);
  return Float64Array.from(values, (v) => (v === Infinity ? 65536 : v));
})();

/** The index of the first element ≥ a in an ascending array (its last index if none is). */
function firstAtLeast(sorted: Float64Array, a: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! >= a) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

test('float16Bits rounds every float32 to the nearest half (ties to even), as tfjs decodes it', () => {
  const rng = (() => {
    let s = 12345;
    return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  })();
  const samples = [0, 1, 1 / 3, 65504, 65519, 2 ** -24, 2 ** -25 * 1.5, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
  for (let i = 0; i < 20000; i++) samples.push(2 ** (rng() * 44 - 27) * (1 + rng()));
  for (const v of samples)
    for (const x of [v, -v]) {
      const bits = float16Bits(x);
      assert.equal(bits >>> 15, Object.is(x, -0) || x < 0 ? 1 : 0, `sign of ${x}`);
      const code = bits & 0x7fff;
      const a = Math.abs(Math.fround(x));
      // The nearest halves below and above |x|: the chosen one is the closer, the even code on a tie.
      const hi = firstAtLeast(halves, a);
      const lo = halves[hi] === a ? hi : Math.max(0, hi - 1);
      const dLo = a - halves[lo]!;
      const dHi = halves[hi]! - a;
      const want = dLo < dHi || (dLo === dHi && lo % 2 === 0) ? lo : hi;
      assert.equal(code, want, `${x}: got half code ${code.toString(16)}, want ${want.toString(16)}`);
    }
  assert.equal(float16Bits(65520), 0x7c00, 'past the largest half (ties to even) is Infinity');
  assert.equal(float16Bits(-1e6), 0xfc00);
  assert.equal(float16Bits(2 ** -25), 0, 'half the smallest subnormal ties to zero');
  assert.equal(float16Bits(NaN) & 0x7e00, 0x7e00);
});

test("uint8 is the converter's affine scheme: 0 exact, every value within scale/2, constants exact", () => {
  const v = Float32Array.from([-0.3, -0.1, 0, 0.05, 0.7, 1]);
  const { bytes, quantization: q } = toUint8(v);
  assert.equal(bytes[0], 0);
  assert.equal(bytes[5], 255);
  assert.ok(Math.abs(q.scale - 1.3 / 255) < 1e-9, `scale ${q.scale}`);
  assert.equal(bytes[2]! * q.scale + q.min, 0, 'the nudged range holds 0 exactly (zero padding, zero biases)');
  v.forEach((x, i) => assert.ok(Math.abs(bytes[i]! * q.scale + q.min - x) <= q.scale / 2 + 1e-12, `value ${i}`));
  // Wholly positive: no nudging, min is the smallest value.
  const pos = toUint8(Float32Array.from([2, 3, 2.5]));
  assert.deepEqual([...pos.bytes], [0, 255, 128]);
  assert.equal(pos.quantization.min, 2);
  const constant = toUint8(Float32Array.from([0.25, 0.25]));
  assert.deepEqual(constant.quantization, { dtype: 'uint8', scale: 1, min: 0.25 });
  assert.deepEqual([...constant.bytes], [0, 0]);
  assert.throws(
    () => toUint8(Float32Array.from([1, NaN]), 'dense/kernel'),
    /cannot quantise dense\/kernel: it holds NaN/,
  );
});

const x = Array.from({ length: 4 }, (_, r) => Array.from({ length: 784 }, (_, i) => ((i * 37 + r * 11) % 256) / 255));

for (const spec of [
  { kind: 'mlp' as const, hidden: [48, 16] },
  { kind: 'cnn' as const, filters: [4, 8], dense: 16 },
]) {
  const name =
    `quantised ${spec.kind} exports: tfjs dequantises each weight within its step; ` + 'the files are 1/2 and 1/4';
  test(name, async () => {
    const net = buildNet(spec, { inputShape: [28, 28], numClasses: 10, seed: 5 });
    const float32 = await exportLayersModel(net, [28, 28], { classNames: [...'abcdefghij'] });
    const original = decoded(float32);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quantize-'));
    const probs: Record<string, number[][]> = {};
    for (const kind of ['float32', 'float16', 'uint8'] as const) {
      const e = kind === 'float32' ? float32 : quantizeExport(float32, kind);
      if (kind !== 'float32') {
        assert.equal(e.weights.length, float32.weights.length / (kind === 'uint8' ? 4 : 2), `${kind} weight bytes`);
        assert.deepEqual((e.modelJson['userDefinedMetadata'] as { quantization: unknown }).quantization, {
          dtype: kind,
          scheme: kind === 'uint8' ? 'affine per tensor, value = code * scale + min' : 'IEEE 754 half precision',
          float32WeightBytes: float32.weights.length,
        });
        const back = decoded(e);
        for (const s of specsOf(e)) {
          assert.equal(s.quantization?.dtype, kind, s.name);
          const step = kind === 'uint8' ? s.quantization.scale! / 2 : 0;
          original[s.name]!.forEach((w, i) => {
            // float16: half an ulp (2^-11 relative) above 2^-14, half the subnormal step 2^-24 below it.
            const bound = kind === 'uint8' ? step + 1e-7 * Math.abs(w) : Math.max(Math.abs(w) * 2 ** -11, 2 ** -25);
            const err = Math.abs(back[s.name]![i]! - w);
            assert.ok(err <= bound, `${kind} ${s.name}[${i}]: |${back[s.name]![i]} − ${w}| = ${err} > ${bound}`);
          });
        }
      }
      const sub = path.join(dir, kind);
      writeExport(sub, e);
      writeFileSync(path.join(dir, 'x.json'), JSON.stringify(x));
      const r = runPlainTfjs<{ backend: string; probs: number[][] }>(sub, 'predict', path.join(dir, 'x.json'));
      assert.equal(r.backend, 'cpu', 'loaded by plain tfjs');
      probs[kind] = r.probs;
    }
    // Weights within a step give outputs within a matching margin of the float32 model's.
    for (const [kind, tol] of [
      ['float16', 2e-3],
      ['uint8', 2e-2],
    ] as const)
      probs[kind]!.forEach((row, i) =>
        row.forEach((p, c) => assert.ok(Math.abs(p - probs['float32']![i]![c]!) < tol, `${kind} [${i}][${c}]`)),
      );
    assert.throws(() => quantizeExport(quantizeExport(float32, 'uint8'), 'float16'), /already quantised \(uint8\)/);
    net.dispose();
  });
}

function writeExport(dir: string, e: ExportedModel): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(e.modelJson));
  writeFileSync(path.join(dir, e.weightsFile), e.weights);
}

async function trainedNet(): Promise<{ net: Net; ds: Awaited<ReturnType<typeof loadDataset>> }> {
  const ds = await loadDataset('mnist');
  const net = buildNet({ kind: 'mlp', hidden: [64] }, { inputShape: [28, 28], numClasses: 10, seed: 3 });
  const indices = Int32Array.from({ length: 4000 }, (_, i) => i);
  await train(
    net,
    { images: ds.train.images, labels: ds.train.labels, side: [28, 28], indices },
    { epochs: 1, batchSize: 64, optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 }, seed: 1 },
  );
  return { net, ds };
}

test('exportModel stores float32 and quantised exports with their sizes; evaluateExport measures them', async () => {
  const store = new LocalArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'quantize-store-')));
  const compute = createComputeActivities({ store, logger: createLogger({ name: 'test', level: 'silent' }), backend });
  const { net, ds } = await trainedNet();
  const model = await publishModel(store, 'quantize-test-model', net, [28, 28], { name: 'student' });
  net.dispose();
  const data = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 1000 },
    transfer: { kind: 'full' },
    seed: 1,
  });
  const classNames = ds.classNames;
  const sizeOf = async (dir: string) => {
    const files = await store.list(`${dir}/`);
    const stats = await Promise.all(files.filter((f) => !f.endsWith('.sha256')).map((f) => store.stat(f)));
    return { files: stats.length, bytes: stats.reduce((a, s) => a + s!.bytes, 0) };
  };
  const float32 = await compute.exportModel({ model, classNames });
  assert.equal(
    float32.modelJson,
    `${keys.exportDir(model.digest)}/model.json`,
    'the float32 export stays where it was',
  );
  assert.deepEqual(await sizeOf(keys.exportDir(model.digest)), { files: 2, bytes: float32.exportBytes });
  const evaluated = await compute.evaluateModel({ name: 'student', model, data });
  const fromExport = await compute.evaluateExport({ modelJson: float32.modelJson, data, name: 'student' });
  assert.equal(fromExport.n, ds.test.n);
  assert.equal(fromExport.errors, evaluated.errors, 'the float32 export scores what the model scores');
  assert.equal(fromExport.exportBytes, float32.exportBytes);

  for (const quantize of ['float16', 'uint8'] as const) {
    const q = await compute.exportModel({ model, classNames, quantize });
    const dir = keys.quantizedExportDir(model.digest, quantize);
    assert.equal(q.modelJson, `${dir}/model.json`);
    assert.deepEqual(await sizeOf(dir), { files: 2, bytes: q.exportBytes });
    assert.deepEqual(await compute.exportModel({ model, classNames, quantize }), q, 'a second export reuses the first');
    const weights = (await store.stat(q.weights))!.bytes;
    const float32Weights = (await store.stat(float32.weights))!.bytes;
    assert.equal(weights, float32Weights / (quantize === 'uint8' ? 4 : 2));
    const e = await compute.evaluateExport({ modelJson: q.modelJson, data, name: `student-${quantize}` });
    assert.equal(e.exportBytes, q.exportBytes);
    // A quantised student makes almost the same decisions: within 0.5% of the test set.
    assert.ok(Math.abs(e.errors - evaluated.errors) <= 0.005 * e.n, `${quantize}: ${e.errors} vs ${evaluated.errors}`);

    assert.ok(e.errors < 0.25 * e.n, `${quantize}: ${e.errors} errors, a trained model`);
  }
  await assert.rejects(
    compute.exportModel({ model, classNames, quantize: 'int4' as 'uint8' }),
    (err: unknown) =>
      err instanceof ApplicationFailure &&
      err.type === 'InvalidInput' &&
      err.nonRetryable &&
      /^invalid input: quantize: expected one of float16, uint8, got "int4"$/.test(err.message),
  );
  await assert.rejects(
    compute.evaluateExport({ modelJson: keys.exportDir(model.digest), data, name: 'x' }),
    (err: unknown) => err instanceof ApplicationFailure && err.type === 'InvalidInput' && /modelJson/.test(err.message),
  );
});

test('chrysalis predict loads a uint8 export and agrees with the float32 one', async () => {
  const { net, ds } = await trainedNet();
  const float32 = await exportLayersModel(net, [28, 28], { classNames: ds.classNames });
  net.dispose();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quantize-predict-'));
  const n = 20;
  writeFileSync(path.join(dir, 'test.idx'), encodeIdx([n, 28, 28], ds.test.images.subarray(0, n * 784)));
  const predict = (e: ExportedModel, name: string) => {
    writeExport(path.join(dir, name), e);
    const cli = path.join(repoRoot, 'dist/cli/main.js');
    const args = [cli, 'predict', '--model', path.join(dir, name), path.join(dir, 'test.idx'), '--json'];
    args.push('--top', '1', '--limit', String(n));
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { results: { top: { class: number; probability: number }[] }[] }).results;
  };
  const want = predict(float32, 'float32');
  const got = predict(quantizeExport(float32, 'uint8'), 'uint8');
  assert.equal(got.length, n);
  const same = got.filter((r, i) => r.top[0]!.class === want[i]!.top[0]!.class).length;
  assert.ok(same >= n - 1, `${same}/${n} top classes agree`);
  got.forEach((r, i) => assert.ok(Math.abs(r.top[0]!.probability - want[i]!.top[0]!.probability) < 0.05, `input ${i}`));
});
