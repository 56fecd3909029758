/**
 * bench/views: which consistent-teaching mode wins at equal wall time (docs/SOFT-TARGETS.md, "Cached consistent
 * views"). Two MLP teachers trained once on a reduced MNIST budget; then per seed and arm one student distilled
 * within the same wall-clock budget, the arm's own teacher inference included:
 *   stored  — soft targets on the unshifted transfer set, student without jitter (one teacher pass per example);
 *   views K — K fixed views per example (ml/views.ts), soft targets on each, the student on all n·K rows;
 *   online  — the teachers on every jittered batch inside training (student jitter 2).
 * Same code paths as the pipeline (ml/views.ts, ml/train.ts, predictLogits), in one process, no stack.
 *
 *   npx tsc -p . && node dist/bench/views/run.js [--budget 40] [--seeds 2] [--views 4,8] [--out f.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { buildNet, initBackend, loadDataset, metrics, predictLogits, softTargetsAt, train } from '../../ml';
import type { Net, TrainData } from '../../ml';
import { ensembleAt } from '../../ml/losses';
import { describeMachine, machineInfo } from '../../ml/machine';
import { rowShift, viewImages, viewIndices } from '../../ml/views';

const T = 4;
const ALPHA = 0.9;
const optimizer = { kind: 'sgd' as const, learningRate: 0.05, momentum: 0.9 };

class OutOfTime extends Error {}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      budget: { type: 'string', default: '40' },
      seeds: { type: 'string', default: '2' },
      views: { type: 'string', default: '4,8' },
      examples: { type: 'string', default: '10000' },
      out: { type: 'string' },
    },
  });
  const budget = Number(values.budget);
  const seeds = Number(values.seeds);
  const viewCounts = values.views.split(',').map(Number);
  const n = Number(values.examples);
  const backend = await initBackend({ requested: 'auto' });
  const ds = await loadDataset('mnist');
  const side = ds.shape;
  const C = ds.numClasses;
  const transfer = Int32Array.from({ length: n }, (_, i) => i);
  const test = Int32Array.from({ length: ds.test.n }, (_, i) => i);
  const base = { images: ds.train.images, labels: ds.train.labels, side };
  const t0 = performance.now();
  const teachers: Net[] = [];
  for (let i = 0; i < 2; i++) {
    const net = buildNet(
      { kind: 'mlp', hidden: [256, 256], inputDropout: 0.2, hiddenDropout: 0.5, maxNorm: 3.5 },
      { inputShape: side, numClasses: C, seed: 101 + i },
    );
    await train(
      net,
      { ...base, indices: transfer },
      { epochs: 3, batchSize: 128, optimizer, seed: 101 + i, jitter: 1 },
    );
    teachers.push(net);
  }
  const teacherErrors = await Promise.all(
    teachers.map(async (t) => metrics(await predictLogits(t, ds.test.images, side, test), ds.test.labels, C).errors),
  );
  process.stdout.write(
    `teachers ${teacherErrors.join(', ')} test errors (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
  );

  /** A student trained until the budget (minus `spent` s of teacher inference) is used up; its test errors. */
  async function student(seed: number, data: TrainData, jitter: number, spent: number) {
    const net = buildNet({ kind: 'mlp', hidden: [128, 128] }, { inputShape: side, numClasses: C, seed });
    const start = performance.now();
    const left = budget - spent;
    let epochs = 0;
    try {
      await train(
        net,
        data,
        { epochs: 1000, batchSize: 128, optimizer, seed, jitter, temperature: T, alpha: ALPHA },
        {
          throwIfCancelled: () => {
            if ((performance.now() - start) / 1000 > left) throw new OutOfTime();
          },
          onEpochEnd: () => Promise.resolve(void epochs++),
        },
      );
    } catch (e) {
      if (!(e instanceof OutOfTime)) throw e;
    }
    const seconds = spent + (performance.now() - start) / 1000;
    const errors = metrics(await predictLogits(net, ds.test.images, side, test), ds.test.labels, C).errors;
    net.dispose();
    return { errors, epochs, seconds: Number(seconds.toFixed(1)), inferenceSeconds: Number(spent.toFixed(1)) };
  }

  async function storedTargets(images: Parameters<typeof predictLogits>[1], idx: Int32Array) {
    const t = performance.now();
    const logits = [];
    for (const teacher of teachers) logits.push(await predictLogits(teacher, images, side, idx));
    const soft = softTargetsAt(logits, idx.length, C, T, 'arithmetic');
    return { soft, seconds: (performance.now() - t) / 1000 };
  }

  const results: { arm: string; seed: number; errors: number; epochs: number; seconds: number }[] = [];
  const record = (arm: string, seed: number, r: Awaited<ReturnType<typeof student>>) => {
    results.push({ arm, seed, ...r });
    process.stdout.write(`${arm} seed ${seed}: ${r.errors} errors, ${r.epochs} epochs, ${r.seconds} s\n`);
  };
  for (let seed = 1; seed <= seeds; seed++) {
    const plain = await storedTargets(ds.train.images, transfer);
    record(
      'stored',
      seed,
      await student(seed, { ...base, indices: transfer, softTargets: plain.soft }, 0, plain.seconds),
    );
    for (const K of viewCounts) {
      const spec = { count: K, jitter: 2, seed };
      const t = performance.now();
      const images = viewImages(ds.train.images, side, transfer, spec, { start: 0, count: n * K });
      const rows = Int32Array.from({ length: n * K }, (_, i) => i);
      const viewed = await storedTargets(images, rows);
      const spent = (performance.now() - t) / 1000;
      const data = {
        ...base,
        indices: viewIndices(transfer, K),
        views: { shift: rowShift(spec, transfer) },
        softTargets: viewed.soft,
      };
      record(`views ${K}`, seed, await student(seed, data, 0, spent));
    }
    const online = (x: tf.Tensor2D) =>
      tf.tidy(() => ensembleAt(tf.stack(teachers.map((t) => t.forward(x))) as tf.Tensor3D, T, 'arithmetic'));
    record('online', seed, await student(seed, { ...base, indices: transfer, teacher: online }, 2, 0));
  }
  const machine = machineInfo();
  const doc = {
    command: `node dist/bench/views/run.js --budget ${budget} --seeds ${seeds} --views ${values.views} --examples ${n}`,
    date: new Date().toISOString(),
    machine: describeMachine(machine),
    backend: backend.backend,
    setup: {
      transferExamples: n,
      teachers: '2 × mlp 256-256, 3 epochs, jitter 1',
      student: 'mlp 128-128',
      T,
      alpha: ALPHA,
      budgetSeconds: budget,
    },
    teacherErrors,
    results,
  };
  if (values.out) writeFileSync(values.out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`machine: ${doc.machine}\n`);
  teachers.forEach((t) => t.dispose());
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
