import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend, resetBackendForTests } from '../../ml';
import { gpuProblem } from '../../ml/backend';
import { applyOneDnnChoice, oneDnnChoice } from '../../ml/onednn';

test('native TensorFlow backend: matmul and gradient match independent computation', async () => {
  const info = await initBackend({ requested: 'tensorflow' });
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.equal(info.backend, 'tensorflow');
  assert.equal(info.fallback, false);
  const a = [
    [1, 2, 3],
    [4, 5, 6],
  ];
  const b = [
    [7, 8],
    [9, 10],
    [11, 12],
  ];
  const expected = a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
  assert.deepEqual(await tf.matMul(tf.tensor2d(a), tf.tensor2d(b)).array(), expected);
  // d/dx sum(sin(x) * x^2) = cos(x) x^2 + 2x sin(x)
  const xs = [0.3, -1.2, 2.5];
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.sin(x), tf.square(x))))(tf.tensor1d(xs));
  Array.from(g.dataSync()).forEach((v, i) => {
    const x = xs[i]!;
    assert.ok(Math.abs(v - (Math.cos(x) * x * x + 2 * x * Math.sin(x))) < 1e-5);
  });
});

test('WASM is used only when native is absent, and says so loudly', async () => {
  resetBackendForTests();
  const warnings: string[] = [];
  const info = await initBackend({
    requested: 'auto',
    loadNative: () => {
      throw new Error('Cannot find module tfjs_binding.node');
    },
    warn: (m) => warnings.push(m),
  });
  assert.equal(info.backend, 'wasm');
  assert.equal(info.fallback, true);
  assert.match(info.fallbackReason ?? '', /tfjs_binding/);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /NATIVE TENSORFLOW UNAVAILABLE/);
  assert.deepEqual(await tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).array(), [[11]]);
  resetBackendForTests();
  await assert.rejects(
    initBackend({
      requested: 'tensorflow',
      loadNative: () => {
        throw new Error('absent');
      },
    }),
    /native TensorFlow backend requested/,
  );
});

const GPU_FALLBACK_TEST =
  'CHRYSALIS_DEVICE=gpu with no GPU visible refuses by default, or runs on the CPU build loudly by choice';
test(GPU_FALLBACK_TEST, async () => {
  resetBackendForTests();
  const loaded: string[] = [];
  const loadNative = (pkg: string) => {
    loaded.push(pkg);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the real package, loaded as initBackend would
    return require('@tensorflow/tfjs-node') as unknown;
  };
  const probeGpu = () => 'no NVIDIA GPU device (/dev/nvidia0, …) on this host';
  await assert.rejects(
    initBackend({ requested: 'auto', device: 'gpu', probeGpu, loadNative }),
    new RegExp(
      '^BackendUnavailable: CHRYSALIS_DEVICE=gpu but no GPU is visible: ' +
        'no NVIDIA GPU device .*CHRYSALIS_GPU_FALLBACK=cpu',
    ),
  );
  assert.deepEqual(loaded, [], 'refused before any native library is loaded');
  resetBackendForTests();
  const warnings: string[] = [];
  const info = await initBackend({
    requested: 'auto',
    device: 'gpu',
    gpuFallback: 'cpu',
    probeGpu,
    loadNative,
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual([info.backend, info.device, info.package], ['tensorflow', 'cpu', '@tensorflow/tfjs-node']);
  assert.match(info.gpuFallback ?? '', /no NVIDIA GPU/);
  assert.match(warnings.join('\n'), /^NO GPU VISIBLE: CHRYSALIS_DEVICE=gpu falls back to the CPU build/);
  assert.deepEqual(loaded, ['@tensorflow/tfjs-node']);
});

test('gpuProblem: CUDA_VISIBLE_DEVICES hiding every GPU, or no /dev/nvidia device', () => {
  assert.equal(gpuProblem({ CUDA_VISIBLE_DEVICES: '' }, ['nvidia0']), 'CUDA_VISIBLE_DEVICES="" hides every GPU');
  assert.equal(gpuProblem({ CUDA_VISIBLE_DEVICES: '-1' }, ['nvidia0']), 'CUDA_VISIBLE_DEVICES="-1" hides every GPU');
  assert.match(gpuProblem({}, ['nvidiactl', 'null']) ?? '', /no NVIDIA GPU device/);
  assert.equal(gpuProblem({ CUDA_VISIBLE_DEVICES: '1' }, ['nvidiactl', 'nvidia0', 'nvidia1']), undefined);
});

test('oneDNN per machine: on where TensorFlow would leave an AVX2 CPU on AVX-only Eigen; the operator wins', () => {
  const avx2 = ['sse4_2', 'avx', 'avx2', 'fma'];
  assert.deepEqual(oneDnnChoice({}, avx2), {
    on: true,
    by: 'chrysalis',
    why: 'AVX2+FMA without VNNI/AMX: TensorFlow would leave oneDNN off and run its AVX-only Eigen kernels',
  });
  assert.deepEqual(oneDnnChoice({}, [...avx2, 'avx512f', 'avx512_vnni']), {
    on: true,
    by: 'tensorflow',
    why: "TensorFlow's default on a CPU with avx512_vnni",
  });
  assert.equal(oneDnnChoice({}, ['sse4_2', 'avx']).on, false);
  assert.deepEqual(oneDnnChoice({ TF_ENABLE_ONEDNN_OPTS: '0' }, avx2), {
    on: false,
    by: 'environment',
    why: 'TF_ENABLE_ONEDNN_OPTS=0',
  });
  const env: NodeJS.ProcessEnv = {};
  applyOneDnnChoice(env, avx2);
  assert.equal(env['TF_ENABLE_ONEDNN_OPTS'], '1', 'set before the library loads');
  const vnni: NodeJS.ProcessEnv = {};
  applyOneDnnChoice(vnni, [...avx2, 'avx512_vnni']);
  assert.equal(vnni['TF_ENABLE_ONEDNN_OPTS'], undefined, "TensorFlow's own default is left alone");
});
