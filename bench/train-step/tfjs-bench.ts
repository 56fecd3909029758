/**
 * tfjs side of bench/train-step: examples/s of ONE training step of the paper's MLPs (forward +
 * backward + plain SGD update, fp32, batch 128) through the project's own code path (buildNet and
 * ml/train-step.ts: the inner step of ml/train.ts), plus
 *   - a raw tf.matMul GFLOP/s for the same SGEMM shapes as pytorch_bench.py (context: how close the
 *     backend's GEMM gets to the machine's peak), plus the weight-gradient shape with transposeA,
 *   - a breakdown of the step (forward / + loss / + backward / full) in ms, and
 *   - the same step driven by ml/train.ts's full train() loop (uint8 → float batch assembly,
 *     shuffling, accuracy readback, event-loop yields), to show the loop's overhead over the bare step.
 * Prints ONE JSON object on stdout (same shape as pytorch_bench.py's where the fields overlap);
 * progress goes to stderr. Built by `npx tsc -p .` to dist/bench/train-step/tfjs-bench.js:
 *   node dist/bench/train-step/tfjs-bench.js --backend tensorflow
 *   node dist/bench/train-step/tfjs-bench.js --backend wasm --steps 5 --repeats 3 --warmup 2
 * Run everything (venv, both backends, PyTorch, table) with bench/train-step/run.sh.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../ml/backend';
import type { BackendInfo } from '../../ml/backend';
import { fillBatch } from '../../ml/batches';
import { buildNet } from '../../ml/models';
import type { BuiltInSpec, Net } from '../../ml/models';
import { Optimizer } from '../../ml/optimizers';
import type { OptimizerSpec } from '../../ml/optimizers';
import { Rng } from '../../ml/rng';
import { train } from '../../ml/train';
import { CompiledStep, compiledStepPlan } from '../../ml/compiled-step';
import { trainStep } from '../../ml/train-step';
import { median, round } from '../common/stats';
import { benchSgemm } from './sgemm';
import { stepBreakdown } from './breakdown';
import type { BenchStep } from './breakdown';
import type { StepPath } from '../../ml/train-step';

// Same names, sizes and SGEMM shapes as pytorch_bench.py, so rows line up in the merged table.
/** The paper's two MLPs, and a small CNN of the size the worked examples and searches use (conv 16, 32; dense 64). */
const MODELS: Record<string, BuiltInSpec> = {
  '784-800-800-10': { kind: 'mlp', hidden: [800, 800] },
  '784-1200-1200-10': { kind: 'mlp', hidden: [1200, 1200] },
  'cnn-16-32-64': { kind: 'cnn', filters: [16, 32], dense: 64 },
};
const SIDE: [number, number] = [28, 28];
const CLASSES = 10;
// Recorded so a result can be interpreted later: threading and oneDNN change TF's kernels.
const ENV_KNOBS = [
  'TF_NUM_INTRAOP_THREADS',
  'TF_NUM_INTEROP_THREADS',
  'TF_ENABLE_ONEDNN_OPTS',
  'ONEDNN_MAX_CPU_ISA',
  'OMP_NUM_THREADS',
  'OPENBLAS_CORETYPE',
  'OPENBLAS_NUM_THREADS',
];

interface Args {
  backend: 'tensorflow' | 'wasm';
  steps: number;
  warmup: number;
  repeats: number;
  batch: number;
  lr: number;
  seed: number;
  models: string[];
  sgemm: boolean;
  sgemmSeconds: number;
  loopExamples: number;
  loopRepeats: number;
  breakdown: boolean;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function parse(): Args {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'tensorflow' },
      steps: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '10' },
      repeats: { type: 'string', default: '5' },
      batch: { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.01' },
      seed: { type: 'string', default: '1' },
      model: { type: 'string', multiple: true },
      'no-sgemm': { type: 'boolean', default: false },
      'sgemm-seconds': { type: 'string', default: '0.3' },
      'loop-examples': { type: 'string', default: '12800' },
      'loop-repeats': { type: 'string', default: '3' },
      'no-breakdown': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    log(
      'usage: tfjs-bench.js [--backend tensorflow|wasm] [--steps 50] [--warmup 10] [--repeats 5] ' +
        '[--batch 128] [--lr 0.01]\n' +
        '  [--seed 1] [--model NAME]... [--no-sgemm] [--sgemm-seconds 0.3] [--loop-examples 12800 (0: skip)] ' +
        '[--loop-repeats 3] [--no-breakdown]',
    );
    process.exit(0);
  }
  const num = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got ${v}`);
    return n;
  };
  if (values.backend !== 'tensorflow' && values.backend !== 'wasm')
    throw new Error(`--backend must be tensorflow or wasm, got ${values.backend}`);
  const models = values.model ?? Object.keys(MODELS);
  for (const m of models)
    if (!(m in MODELS)) throw new Error(`unknown --model ${m}; one of ${Object.keys(MODELS).join(', ')}`);
  return {
    backend: values.backend,
    steps: num('steps', values.steps, 1),
    warmup: num('warmup', values.warmup, 0),
    repeats: num('repeats', values.repeats, 1),
    batch: num('batch', values.batch, 1),
    lr: num('lr', values.lr, 0),
    seed: num('seed', values.seed, 0),
    models,
    sgemm: !values['no-sgemm'],
    sgemmSeconds: num('sgemm-seconds', values['sgemm-seconds'], 0.01),
    loopExamples: num('loop-examples', values['loop-examples'], 0),
    loopRepeats: num('loop-repeats', values['loop-repeats'], 1),
    breakdown: !values['no-breakdown'],
  };
}

/** Multiply-adds per example of each layer's GEMM or convolution (3×3, same padding, 2×2 pool after each). */
function layerMacs(spec: BuiltInSpec): number[] {
  if (spec.kind === 'mlp') {
    const sizes = [SIDE[0] * SIDE[1], ...spec.hidden, CLASSES];
    return sizes.slice(1).map((out, i) => sizes[i]! * out);
  }
  let [h, w, c] = [SIDE[0], SIDE[1], 1];
  const macs = spec.filters.map((f) => {
    const m = h * w * 9 * c * f;
    [h, w, c] = [Math.floor(h / 2), Math.floor(w / 2), f];
    return m;
  });
  return [...macs, h * w * c * spec.dense, spec.dense * CLASSES];
}

/** Same count as pytorch_bench.py step_flops: GEMMs and convolutions (forward, grad-weight, grad-input but layer 0). */
function stepFlops(spec: BuiltInSpec, batch: number): number {
  const macs = layerMacs(spec);
  return 2 * batch * (3 * macs.reduce((a, b) => a + b, 0) - macs[0]!);
}

/** Synthetic MNIST-shaped data: uint8 pixels and labels from a seed, so every backend sees the same inputs. */
function syntheticData(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * SIDE[0] * SIDE[1]);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(0, 255);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = rng.int(0, CLASSES - 1);
  return { images, labels };
}

// Plain SGD as in the issue (and pytorch_bench.py), through the project's Optimizer.
const sgd = (lr: number): OptimizerSpec => ({ kind: 'sgd', learningRate: lr, momentum: 0 });

/**
 * ml/train.ts's inner step, minus batch assembly. `project`: the step train() takes (ml/compiled-step.ts: one
 * TensorFlow call for an MLP on native; else ml/train-step.ts's eager step); `eager`: ml/train-step.ts (the MLPs'
 * written-out backward pass, ml/mlp-step.ts; the CNN tfjs's tape); `tape`: tfjs's tape for every net. Each reads
 * the loss back every step, as train.ts does for its NaN check.
 */
function makeStep(
  net: Net,
  opt: Optimizer,
  x: tf.Tensor2D,
  y: tf.Tensor1D,
  a: Args,
  path: 'project' | StepPath,
): BenchStep {
  const rng = new Rng(a.seed);
  if (path === 'project' && compiledStepPlan(net).path === 'compiled') {
    const compiled = CompiledStep.create(net, sgd(a.lr), { soft: false, hard: true });
    return {
      run: () => compiled.step({ x, labels: y }, a.lr, 1, 1, rng).loss,
      path: 'compiled',
      dispose: () => compiled.dispose(),
    };
  }
  const eagerPath = path === 'project' ? 'auto' : path;
  return {
    run: () => trainStep(net, opt, { x, labels: y }, a.lr, rng, eagerPath).loss,
    path: eagerPath === 'tape' ? 'tape' : 'eager',
    dispose: () => undefined,
  };
}

function benchStep(name: string, a: Args, data: { images: Uint8Array; labels: Uint8Array }): Record<string, unknown> {
  const net = buildNet(MODELS[name]!, { inputShape: SIDE, numClasses: CLASSES, seed: a.seed });
  const opt = new Optimizer(sgd(a.lr), net.params);
  // One fixed batch (the first `batch` synthetic images), as on the PyTorch side: compute, not input pipeline.
  const xBuf = new Float32Array(a.batch * net.inputSize);
  const rows = Int32Array.from({ length: a.batch }, (_, i) => i);
  fillBatch(data.images, SIDE, rows, 0, a.batch, xBuf, 0, new Rng(a.seed));
  const x = tf.tensor2d(xBuf, [a.batch, net.inputSize]);
  const y = tf.tensor1d(Int32Array.from(data.labels.subarray(0, a.batch)), 'int32');
  const project = makeStep(net, opt, x, y, a, 'project');
  const step = project.run;

  for (let i = 0; i < a.warmup; i++) step();
  const tensorsBefore = tf.memory().numTensors;
  const rates: number[] = [];
  let loss = NaN;
  for (let r = 0; r < a.repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < a.steps; i++) loss = step();
    rates.push((a.steps * a.batch) / ((performance.now() - t0) / 1e3));
  }
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (!Number.isFinite(loss)) throw new Error(`${name}: loss diverged (${loss}); lower --lr`);
  if (leaked !== 0) throw new Error(`${name}: the step leaks ${leaked} tensors over ${a.repeats * a.steps} steps`);
  const others = { eager: makeStep(net, opt, x, y, a, 'auto'), tape: makeStep(net, opt, x, y, a, 'tape') };
  const breakdown = a.breakdown ? stepBreakdown(net, x, y, step, others, a) : undefined;
  project.dispose();
  x.dispose();
  y.dispose();
  opt.dispose();
  net.dispose();

  const med = median(rates);
  const flops = stepFlops(MODELS[name]!, a.batch);
  log(
    `  ${name}: ${med.toFixed(0)} examples/s (median of ${a.repeats}), ` +
      `${(((med / a.batch) * flops) / 1e9).toFixed(1)} GFLOP/s in GEMMs`,
  );
  return {
    model: name,
    step_path: project.path,
    batch: a.batch,
    steps: a.steps,
    warmup: a.warmup,
    repeats: a.repeats,
    examples_per_s: round(med, 1),
    examples_per_s_all: rates.map((r) => round(r, 1)),
    ms_per_step: round((1e3 * a.batch) / med, 3),
    gflop_per_step: round(flops / 1e9, 4),
    gflop_per_s: round(((med / a.batch) * flops) / 1e9, 2),
    final_loss: round(loss, 4),
    ...(breakdown ? { breakdown_ms: breakdown } : {}),
  };
}

/**
 * The same step via ml/train.ts's train(): one epoch over `loopExamples` synthetic uint8 images
 * per repeat, timed around the whole call (so it includes the Optimizer's slot set-up, shuffling,
 * fillBatch, the accuracy readback and one setImmediate yield per batch).
 */
async function benchLoop(
  name: string,
  a: Args,
  data: { images: Uint8Array; labels: Uint8Array },
  bareMsPerStep: number,
): Promise<Record<string, unknown>> {
  const net = buildNet(MODELS[name]!, { inputShape: SIDE, numClasses: CLASSES, seed: a.seed });
  const cfg = { epochs: 1, batchSize: a.batch, optimizer: sgd(a.lr), seed: a.seed };
  const all = Int32Array.from({ length: a.loopExamples }, (_, i) => i);
  const warm = all.subarray(0, Math.min(a.loopExamples, Math.max(1, a.warmup) * a.batch));
  await train(net, { ...data, side: SIDE, indices: warm }, cfg);
  const rates: number[] = [];
  for (let r = 0; r < a.loopRepeats; r++) {
    const t0 = performance.now();
    const [stats] = await train(net, { ...data, side: SIDE, indices: all }, { ...cfg, seed: a.seed + r });
    rates.push(a.loopExamples / ((performance.now() - t0) / 1e3));
    if (!stats || !Number.isFinite(stats.loss)) throw new Error(`${name}: train() loss is ${stats?.loss}`);
  }
  net.dispose();
  const med = median(rates);
  const msPerStep = (1e3 * a.batch) / med;
  log(
    `  ${name} via train(): ${med.toFixed(0)} examples/s (median of ${a.loopRepeats} × ${a.loopExamples}), ` +
      `${(msPerStep - bareMsPerStep).toFixed(2)} ms/step over the bare step`,
  );
  return {
    model: name,
    examples: a.loopExamples,
    batch: a.batch,
    repeats: a.loopRepeats,
    examples_per_s: round(med, 1),
    examples_per_s_all: rates.map((r) => round(r, 1)),
    ms_per_step: round(msPerStep, 3),
    overhead_ms_per_step: round(msPerStep - bareMsPerStep, 3),
  };
}

async function versions(info: BackendInfo): Promise<Record<string, unknown>> {
  const v: Record<string, unknown> = {
    node: process.versions.node,
    tfjs: tf.version.tfjs,
    native: info.nativeVersion ?? null,
  };
  if (info.backend === 'tensorflow') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    v['tfjs_node'] = (require('@tensorflow/tfjs-node/package.json') as { version: string }).version;
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    v['tfjs_backend_wasm'] = (require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string }).version;
    // In Node, tfjs-backend-wasm never uses its threaded binary (tfjs#3830): SIMD, one thread.
    v['wasm_simd'] = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    v['wasm_multithread'] = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  }
  return v;
}

async function main(): Promise<void> {
  // The project's compiled step is opt-in for now (ml/compiled-step.ts COMPILED_OPT_IN): the bench times it.
  process.env['CHRYSALIS_STEP'] ??= 'compiled';
  const a = parse();
  const loadBefore = os.loadavg()[0]!;
  const info = await initBackend({ requested: a.backend });
  log(`tfjs ${tf.version.tfjs} on ${info.backend} (${info.nativeVersion ?? info.package}), ${info.threads} threads`);
  const data = syntheticData(Math.max(a.batch, a.loopExamples), a.seed);
  const res: Record<string, unknown> = {
    framework: 'tfjs',
    backend: info.backend,
    package: info.package,
    versions: await versions(info),
    threads: info.threads,
    ...(info.onednn ? { onednn: info.onednn } : {}),
    cpu_count: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? null,
    dtype: 'float32',
    seed: a.seed,
    lr: a.lr,
    optimizer: 'project Optimizer, sgd momentum 0',
    env: Object.fromEntries(ENV_KNOBS.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
    // A busy 2-core box makes every number here meaningless; the driver checks this too.
    loadavg_before: round(loadBefore, 2),
    results: [] as unknown[],
    loop: [] as unknown[],
    sgemm: [] as unknown[],
  };
  const results: Record<string, unknown>[] = [];
  for (const name of a.models) results.push(benchStep(name, a, data));
  res['results'] = results;
  if (a.loopExamples > 0) {
    const loop: Record<string, unknown>[] = [];
    for (const r of results) loop.push(await benchLoop(r['model'] as string, a, data, r['ms_per_step'] as number));
    res['loop'] = loop;
  }
  if (a.sgemm) res['sgemm'] = benchSgemm(a, log);
  res['loadavg_after'] = round(os.loadavg()[0]!, 2);
  process.stdout.write(`${JSON.stringify(res)}\n`);
}

main().catch((err: unknown) => {
  log(`tfjs-bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
