/**
 * bench/threads: ms per compiled training step (ml/compiled-step.ts) of the paper's MLPs and the bench CNN, batch
 * 128, plain SGD, under each TensorFlow thread setting, each in a process of its own (TensorFlow reads its thread
 * counts once, at load). The settings interleave over rounds so a drift in machine speed hits all alike; the
 * result is what ml/threads.ts's rule is chosen from. One JSON object on stdout.
 *   npx tsc -p . && node dist/bench/threads/run.js [--rounds 3] [--steps 30]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../ml/backend';
import { CompiledStep } from '../../ml/compiled-step';
import { buildNet } from '../../ml/models';
import { cpuFlags } from '../../ml/onednn';
import { Rng } from '../../ml/rng';

const SETTINGS = [
  { intra: os.availableParallelism(), inter: os.availableParallelism() },
  { intra: os.availableParallelism(), inter: 1 },
  { intra: 1, inter: 1 },
];

function child(): void {
  const steps = Number(process.env['BENCH_STEPS'] ?? 30);
  void initBackend({ requested: 'tensorflow' }).then((info) => {
    const out: Record<string, number> = {};
    const models = {
      '784-800-800-10': { kind: 'mlp' as const, hidden: [800, 800] },
      '784-1200-1200-10': { kind: 'mlp' as const, hidden: [1200, 1200] },
      'cnn-16-32-64': { kind: 'cnn' as const, filters: [16, 32], dense: 64 },
    };
    const rng = new Rng(1);
    const x = tf.tensor2d(
      Float32Array.from({ length: 128 * 784 }, () => rng.next()),
      [128, 784],
    );
    const labels = tf.tensor1d(
      Int32Array.from({ length: 128 }, () => rng.int(0, 9)),
      'int32',
    );
    for (const [name, spec] of Object.entries(models)) {
      const net = buildNet(spec, { inputShape: [28, 28], numClasses: 10, seed: 1 });
      const step = CompiledStep.create(
        net,
        { kind: 'sgd', learningRate: 0.01, momentum: 0 },
        { soft: false, hard: true },
      );
      for (let i = 0; i < 5; i++) step.step({ x, labels }, 0.01, 1, 1, rng);
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) step.step({ x, labels }, 0.01, 1, 1, rng);
      out[name] = (performance.now() - t0) / steps;
      step.dispose();
      net.dispose();
    }
    process.stdout.write(`${JSON.stringify({ threads: info.threadChoice, ms: out })}\n`);
  });
}

function main(): void {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '3' }, steps: { type: 'string', default: '30' } },
  });
  const runs: { intra: number; inter: number; ms: Record<string, number> }[] = [];
  for (let r = 0; r < Number(values.rounds); r++)
    for (const s of SETTINGS) {
      const env = {
        ...process.env,
        TF_NUM_INTRAOP_THREADS: String(s.intra),
        TF_NUM_INTEROP_THREADS: String(s.inter),
        BENCH_STEPS: values.steps,
        BENCH_THREADS_CHILD: '1',
      };
      const line = execFileSync(process.execPath, [__filename], { env, encoding: 'utf8' }).trim().split('\n').pop()!;
      runs.push({ ...s, ms: (JSON.parse(line) as { ms: Record<string, number> }).ms });
      process.stderr.write(`[threads] round ${r + 1}: intra ${s.intra} inter ${s.inter}: ${line}\n`);
    }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const summary = SETTINGS.map((s) => {
    const mine = runs.filter((r) => r.intra === s.intra && r.inter === s.inter);
    const models = Object.keys(mine[0]!.ms);
    return {
      ...s,
      msMedian: Object.fromEntries(models.map((m) => [m, Number(median(mine.map((r) => r.ms[m]!)).toFixed(2))])),
    };
  });
  const flags = cpuFlags().filter((f) => /^(avx2|fma|avx512f|avx512_vnni|avx512_bf16|amx_tile)$/.test(f));
  const machine = { cpu: os.cpus()[0]?.model ?? null, cores: os.availableParallelism(), simd_flags: flags };
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), machine, summary, runs }, null, 2)}\n`);
}

if (process.env['BENCH_THREADS_CHILD']) child();
else main();
