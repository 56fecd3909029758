/**
 * bench/soft-targets: what compact soft targets cost (docs/SOFT-TARGETS.md). Per dataset: two teachers trained
 * once, their logits on a transfer set stored in every format (full float32 / float16, top-k with k = 5, 3, 1),
 * and one student per format and seed distilled from them, with the same code path as the pipeline
 * (ml/soft-targets.ts encode → storage codec → decode at T → ml/train.ts); test accuracy and stored bytes per
 * example. Also how well each rest-bucket rule recovers the teachers' true rest mass at several T.
 *
 *   npx tsc -p . && node dist/bench/soft-targets/run.js [--datasets mnist,fashion-mnist] [--seeds 3] [--out f.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { SoftTargetFormat } from '../../common/soft-target-format';
import type { DatasetName } from '../../ml';
import { buildNet, initBackend, loadDataset, metrics, predictLogits, train } from '../../ml';
import { describeMachine, machineInfo } from '../../ml/machine';
import { encodeSoftTargets, restLogMass, restStatistics, softTargetsFromStored } from '../../ml/soft-targets';
import type { KeptTargets } from '../../ml/soft-targets';
import { decodeTensors, encodeTensors } from '../../storage/tensor-codec';

/** `spread`: the alternative to the rest bucket, measured beside it: its mass split evenly over the rest classes. */
const FORMATS: { name: string; format: SoftTargetFormat | undefined; spread?: boolean }[] = [
  { name: 'full float32', format: undefined },
  { name: 'full float16', format: { precision: 'float16' } },
  { name: 'top-5 float32', format: { precision: 'float32', topK: 5, ensemble: 'arithmetic' } },
  { name: 'top-3 float32', format: { precision: 'float32', topK: 3, ensemble: 'arithmetic' } },
  { name: 'top-1 float32', format: { precision: 'float32', topK: 1, ensemble: 'arithmetic' } },
  { name: 'top-3 float16', format: { precision: 'float16', topK: 3, ensemble: 'arithmetic' } },
  { name: 'top-3 float16, geometric', format: { precision: 'float16', topK: 3, ensemble: 'geometric' } },
  ...[5, 3, 1].map((k) => ({
    name: `top-${k} float32, rest spread evenly`,
    format: { precision: 'float32' as const, topK: k, ensemble: 'arithmetic' as const },
    spread: true,
  })),
];

/** Dense targets from kept-class ones, the rest bucket's mass split evenly over the classes not kept. */
function spreadRest(t: KeptTargets): Float32Array {
  const { k, numClasses: C, classes, probs } = t;
  const n = classes.length / k;
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    out.fill(probs[i * (k + 1) + k]! / (C - k), i * C, (i + 1) * C);
    for (let s = 0; s < k; s++) out[i * C + classes[i * k + s]!] = probs[i * (k + 1) + s]!;
  }
  return out;
}

interface Options {
  teacherExamples: number;
  transfer: number;
  teacherEpochs: number;
  studentEpochs: number;
  temperatures: number[];
  seeds: number;
}

const sgd = { kind: 'sgd', learningRate: 0.05, momentum: 0.9 } as const;

async function teachersOf(name: DatasetName, o: Options) {
  const ds = await loadDataset(name);
  const indices = Int32Array.from({ length: o.teacherExamples }, (_, i) => i);
  // The transfer set is part of the teachers' training set, as with the pipeline's `fraction` rule.
  const transfer = indices.subarray(0, o.transfer);
  const logits: Float32Array[] = [];
  const testAccuracy: number[] = [];
  const test = Int32Array.from({ length: ds.test.n }, (_, i) => i);
  for (const seed of [101, 102]) {
    const net = buildNet(
      { kind: 'mlp', hidden: [512, 512], hiddenDropout: 0.3 },
      {
        inputShape: ds.shape,
        numClasses: ds.numClasses,
        seed,
      },
    );
    const data = { images: ds.train.images, labels: ds.train.labels, side: ds.shape, indices };
    await train(net, data, { epochs: o.teacherEpochs, batchSize: 128, optimizer: sgd, seed, jitter: 1 });
    logits.push(await predictLogits(net, ds.train.images, ds.shape, transfer));
    const testLogits = await predictLogits(net, ds.test.images, ds.shape, test);
    testAccuracy.push(metrics(testLogits, ds.test.labels, ds.numClasses).accuracy);
    net.dispose();
  }
  return { ds, transfer, logits, testAccuracy };
}

type Teachers = Awaited<ReturnType<typeof teachersOf>>;

/** Test accuracy of a student distilled (α = 1: the soft targets alone) from one stored format, or hard labels. */
async function student(
  t: Teachers,
  f: { stored: Uint8Array | null; spread?: boolean },
  T: number,
  seed: number,
  o: Options,
) {
  const { ds, transfer } = t;
  const C = ds.numClasses;
  const { stored } = f;
  const decoded = stored ? softTargetsFromStored(decodeTensors(stored), C, T, 'arithmetic') : undefined;
  const softTargets = decoded && f.spread && !(decoded instanceof Float32Array) ? spreadRest(decoded) : decoded;
  const net = buildNet({ kind: 'mlp', hidden: [64] }, { inputShape: ds.shape, numClasses: C, seed });
  const data = { images: ds.train.images, labels: ds.train.labels, side: ds.shape, indices: transfer };
  await train(
    net,
    { ...data, ...(softTargets ? { softTargets } : {}) },
    { epochs: o.studentEpochs, batchSize: 128, optimizer: sgd, seed, temperature: T, alpha: stored ? 1 : 0 },
  );
  const test = Int32Array.from({ length: ds.test.n }, (_, i) => i);
  const acc = metrics(await predictLogits(net, ds.test.images, ds.shape, test), ds.test.labels, C).accuracy;
  net.dispose();
  return acc;
}

/** Mean KL(true kept+rest distribution ‖ the one a rest rule gives), per teacher and example, for one k and T. */
function restRuleErrors(t: Teachers, k: number, T: number): Record<string, number> {
  const C = t.ds.numClasses;
  const n = t.transfer.length;
  const sums: Record<string, number> = { 'all at mean': 0, 'all at log-mean-exp': 0, interpolated: 0 };
  for (const z of t.logits)
    for (let i = 0; i < n; i++) {
      const row = z.subarray(i * C, (i + 1) * C);
      const order = [...row.keys()].sort((a, b) => row[b]! - row[a]!);
      const kept = order.slice(0, k);
      const [mean, lme] = restStatistics(row, kept);
      const max = row[order[0]!]!;
      const keptW = kept.map((c) => Math.exp((row[c]! - max) / T));
      const trueRest = order.slice(k).reduce((a, c) => a + Math.exp((row[c]! - max) / T), 0);
      const dist = (rest: number) => {
        const s = keptW.reduce((a, b) => a + b, 0) + rest;
        return [...keptW.map((w) => w / s), rest / s];
      };
      const p = dist(trueRest);
      const kl = (q: number[]) => p.reduce((a, pi, j) => a + (pi > 0 ? pi * Math.log(pi / q[j]!) : 0), 0);
      const r = C - k;
      sums['all at mean']! += kl(dist(r * Math.exp((mean - max) / T)));
      sums['all at log-mean-exp']! += kl(dist(r * Math.exp((lme - max) / T)));
      sums['interpolated']! += kl(dist(Math.exp(restLogMass(r, mean, lme, T) - max / T)));
    }
  return Object.fromEntries(Object.entries(sums).map(([m, v]) => [m, v / (n * t.logits.length)]));
}

async function benchDataset(name: DatasetName, o: Options) {
  const started = Date.now();
  const t = await teachersOf(name, o);
  const C = t.ds.numClasses;
  const n = t.transfer.length;
  const formats = FORMATS.map((f) => {
    const stored = encodeTensors(encodeSoftTargets(t.logits, n, C, f.format));
    return { ...f, stored, bytesPerExample: stored.length / n };
  });
  const rows: { format: string; bytesPerExample: number; T: number; accuracies: number[] }[] = [];
  for (const T of o.temperatures)
    for (const f of [{ name: 'hard labels only', stored: null, bytesPerExample: 0 }, ...formats]) {
      if (f.stored === null && T !== o.temperatures[0]) continue;
      const accuracies: number[] = [];
      for (let s = 0; s < o.seeds; s++) accuracies.push(await student(t, f, T, 7 + s, o));
      rows.push({ format: f.name, bytesPerExample: f.bytesPerExample, T: f.stored ? T : 0, accuracies });
      process.stderr.write(`${name} T=${T} ${f.name}: ${accuracies.map((a) => a.toFixed(4)).join(' ')}\n`);
    }
  const restRules = [1, 3, 5].flatMap((k) => [1, 2, 4, 8, 20].map((T) => ({ k, T, kl: restRuleErrors(t, k, T) })));
  const seconds = (Date.now() - started) / 1000;
  return { dataset: name, transferExamples: n, teacherAccuracy: t.testAccuracy, rows, restRules, seconds };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

function tables(results: Awaited<ReturnType<typeof benchDataset>>[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const teachers = r.teacherAccuracy.map(pct).join(', ');
    lines.push(
      `### ${r.dataset} (transfer set ${r.transferExamples}, teachers ${teachers}, ${r.seconds.toFixed(0)} s)`,
      '',
    );
    lines.push(
      '| soft targets | bytes / example | T | test accuracy (mean of seeds) | per seed |',
      '|---|--:|--:|--:|---|',
    );
    for (const row of r.rows)
      lines.push(
        `| ${row.format} | ${row.bytesPerExample.toFixed(1)} | ${row.T || '–'} | ${pct(mean(row.accuracies))} | ` +
          `${row.accuracies.map(pct).join(', ')} |`,
      );
    lines.push(
      '',
      '| k | T | KL, rest at mean | KL, rest at log-mean-exp | KL, interpolated (ours) |',
      '|--:|--:|--:|--:|--:|',
    );
    for (const e of r.restRules)
      lines.push(
        `| ${e.k} | ${e.T} | ${e.kl['all at mean']!.toExponential(1)} | ` +
          `${e.kl['all at log-mean-exp']!.toExponential(1)} | ${e.kl['interpolated']!.toExponential(1)} |`,
      );
    lines.push('');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      datasets: { type: 'string', default: 'mnist,fashion-mnist' },
      seeds: { type: 'string', default: '3' },
      'teacher-examples': { type: 'string', default: '20000' },
      transfer: { type: 'string', default: '5000' },
      'teacher-epochs': { type: 'string', default: '5' },
      'student-epochs': { type: 'string', default: '10' },
      temperatures: { type: 'string', default: '2,4,8' },
      out: { type: 'string' },
    },
  });
  const o: Options = {
    teacherExamples: Number(values['teacher-examples']),
    transfer: Number(values.transfer),
    teacherEpochs: Number(values['teacher-epochs']),
    studentEpochs: Number(values['student-epochs']),
    temperatures: values.temperatures.split(',').map(Number),
    seeds: Number(values.seeds),
  };
  const backend = await initBackend({ requested: 'auto' });
  const machine = machineInfo();
  const results = [];
  for (const name of values.datasets.split(',')) results.push(await benchDataset(name as DatasetName, o));
  process.stdout.write(`Machine: ${describeMachine(machine)}; backend ${backend.backend}\n\n${tables(results)}`);
  if (values.out)
    writeFileSync(
      values.out,
      `${JSON.stringify({ date: new Date().toISOString(), machine, options: o, results }, null, 2)}\n`,
    );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
