/**
 * Merges the JSON objects of one bench/train-step run (tfjs native, tfjs WASM, PyTorch, and the
 * SGEMM-only run with OPENBLAS_CORETYPE unset) into results-<date>.json, and prints the Markdown
 * tables that docs/BENCHMARKS.md quotes. Called by run.sh; the inputs are whatever the three
 * benchmark scripts printed, so only the fields used here are typed.
 *   node dist/bench/train-step/report.js --native N.json --wasm W.json --pytorch P.json \
 *     --sgemm-unset S.json --out bench/train-step/results-DATE.json \
 *     [--load-start 0.12 --idle-start 97 --waited-s 0 --command '...']
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { machineInfo } from '../../ml/machine';

interface StepRow {
  model: string;
  examples_per_s: number;
  ms_per_step: number;
  gflop_per_s: number;
  breakdown_ms?: Record<string, number>;
}
interface LoopRow {
  model: string;
  examples_per_s: number;
  ms_per_step: number;
  overhead_ms_per_step: number;
  examples: number;
}
interface TfjsSgemm {
  m: number;
  k: number;
  n: number;
  transpose_a?: boolean;
  gflop_per_s: number;
}
interface PySgemm {
  m: number;
  k: number;
  n: number;
  numpy_gflop_per_s: number;
  torch_gflop_per_s: number;
  best: string;
  peak_gflop_per_s: number;
}
interface TfjsRun {
  backend: string;
  threads: number;
  versions: Record<string, unknown>;
  env: Record<string, string>;
  loadavg_before: number;
  loadavg_after: number;
  results: StepRow[];
  loop: LoopRow[];
  sgemm: TfjsSgemm[];
}
interface PyRun {
  torch: string;
  numpy: string;
  python: string;
  threads: number;
  env: Record<string, string>;
  loadavg_before: number;
  loadavg_after: number;
  results: StepRow[];
  sgemm: PySgemm[];
  backend: {
    torch: { blas: string | null; cpu_capability: string };
    numpy: { runtime_core?: string; blas_version?: string };
  };
}

const MODELS = ['784-800-800-10', '784-1200-1200-10'];
/** The small CNN (conv 16, 32; dense 64): tabled on its own, the issue's goal is for the MLPs. */
const CNN = 'cnn-16-32-64';
const GOAL = 1.0;
/** % of the machine's CPU that other processes may use during a part before the run is flagged as not valid. */
const MAX_FOREIGN_PCT = 10;

const read = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const fmt = (x: number, digits = 0): string =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (x: number, ref: number): string => `${(x / ref).toFixed(2)}×`;
const pct = (x: number, ref: number): string => `${((100 * x) / ref).toFixed(0)} %`;
const shape = (r: { m: number; k: number; n: number }): string => `${r.m}×${r.k}×${r.n}`;
const tableRow = (cells: unknown[]): string => `| ${cells.map(String).join(' | ')} |`;

function row<T extends { model: string }>(rows: T[], model: string, what: string): T {
  const r = rows.find((x) => x.model === model);
  if (!r) throw new Error(`${what} has no result for ${model}`);
  return r;
}

/** The CNN's own rows (absent from runs made before it was benchmarked); its ratios join `ratios`. */
function cnnTable(native: TfjsRun, wasm: TfjsRun, py: PyRun, ratios: Record<string, Record<string, number>>) {
  const ref = py.results.find((r) => r.model === CNN);
  if (!ref) return [];
  const out = ['', `The CNN (${CNN}: 3×3 conv 16 and 32, each ReLU + 2×2 max-pool; dense 64), batch 128:`, ''];
  out.push('| backend | ex/s | × PyTorch | GFLOP/s | ms/step |', '|---|--:|--:|--:|--:|');
  for (const [key, label, rows] of [
    ['tfjs_native', 'tfjs-node native', native.results],
    ['tfjs_native_train_loop', '↳ via train()', native.loop],
    ['tfjs_wasm', 'tfjs WASM', wasm.results],
    ['pytorch', `PyTorch ${py.torch}`, py.results],
  ] as const) {
    const r = (rows as { model: string; examples_per_s: number; gflop_per_s?: number }[]).find((x) => x.model === CNN);
    if (!r) continue;
    (ratios[key] ??= {})[CNN] = Number((r.examples_per_s / ref.examples_per_s).toFixed(3));
    const ms = (1e3 * 128) / r.examples_per_s;
    const gflops = r.gflop_per_s !== undefined ? fmt(r.gflop_per_s, 1) : '';
    out.push(
      tableRow([label, fmt(r.examples_per_s), ratio(r.examples_per_s, ref.examples_per_s), gflops, ms.toFixed(2)]),
    );
  }
  return out;
}

/** The machine, from the OS (ml/machine.ts): what the doc's "Machine" line needs and the JSON keeps. */
function machine(): Record<string, unknown> {
  const m = machineInfo();
  return {
    cpu: m.cpu,
    nproc: m.cores,
    simd_flags: m.simd,
    kernel: os.release(),
    memory_gib: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: m.node,
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      native: { type: 'string' },
      wasm: { type: 'string' },
      pytorch: { type: 'string' },
      'sgemm-unset': { type: 'string' },
      out: { type: 'string' },
      'load-start': { type: 'string' },
      'idle-start': { type: 'string' },
      contention: { type: 'string' },
      'waited-s': { type: 'string' },
      command: { type: 'string', multiple: true },
    },
  });
  for (const k of ['native', 'wasm', 'pytorch', 'sgemm-unset', 'out'] as const)
    if (!values[k]) throw new Error(`--${k} is required`);
  const native = read<TfjsRun>(values.native!);
  const wasm = read<TfjsRun>(values.wasm!);
  const py = read<PyRun>(values.pytorch!);
  const unset = read<PyRun>(values['sgemm-unset']!);

  // Practical peak: the best SGEMM any BLAS reached here, over both numpy kernel choices. The
  // OPENBLAS_CORETYPE this machine sets is an environment restriction, not the hardware's limit.
  const candidates = [
    ...py.sgemm.flatMap((r) => [
      { gflops: r.numpy_gflop_per_s, what: `numpy ${shape(r)} (OpenBLAS ${py.backend.numpy.runtime_core ?? '?'})` },
      { gflops: r.torch_gflop_per_s, what: `torch ${shape(r)}` },
    ]),
    ...unset.sgemm.flatMap((r) => [
      {
        gflops: r.numpy_gflop_per_s,
        what: `numpy ${shape(r)} (OpenBLAS ${unset.backend.numpy.runtime_core ?? '?'}, OPENBLAS_CORETYPE unset)`,
      },
      { gflops: r.torch_gflop_per_s, what: `torch ${shape(r)} (OPENBLAS_CORETYPE unset run)` },
    ]),
  ];
  const peak = candidates.reduce((a, b) => (b.gflops > a.gflops ? b : a));

  const ratios: Record<string, Record<string, number>> = {};
  const lines: string[] = [];
  const torchBuild = `PyPI wheel, ${py.backend.torch.blas ?? '?'}, ${py.backend.torch.cpu_capability}`;
  const torchLabel = `PyTorch ${py.torch} CPU (${torchBuild})`;
  const nativeLabel = `tfjs-node native (TF ${String(native.versions['native'])})`;
  const wasmLabel = `tfjs WASM (SIMD${wasm.versions['wasm_multithread'] ? ', threads' : ', 1 thread'})`;
  lines.push(
    '| backend | threads | 784-800-800-10 ex/s | × PyTorch | 784-1200-1200-10 ex/s | × PyTorch |',
    '|---|--:|--:|--:|--:|--:|',
  );
  const emit = (
    label: string,
    threads: number | string,
    rows: { model: string; examples_per_s: number }[],
    key: string,
  ): void => {
    const cells = MODELS.map((m) => {
      const r = row(rows, m, label);
      const ref = row(py.results, m, 'pytorch').examples_per_s;
      (ratios[key] ??= {})[m] = Number((r.examples_per_s / ref).toFixed(3));
      return `${fmt(r.examples_per_s)} | ${ratio(r.examples_per_s, ref)}`;
    });
    lines.push(`| ${label} | ${threads} | ${cells.join(' | ')} |`);
  };
  emit(nativeLabel, native.threads, native.results, 'tfjs_native');
  if (native.loop.length)
    emit(
      `↳ same, via ml/train.ts train() (${fmt(native.loop[0]!.examples)} ex/epoch)`,
      native.threads,
      native.loop,
      'tfjs_native_train_loop',
    );
  emit(wasmLabel, wasm.threads, wasm.results, 'tfjs_wasm');
  if (wasm.loop.length)
    emit(
      `↳ same, via train() (${fmt(wasm.loop[0]!.examples)} ex/epoch)`,
      wasm.threads,
      wasm.loop,
      'tfjs_wasm_train_loop',
    );
  emit(torchLabel, py.threads, py.results, 'pytorch');
  lines.push(...cnnTable(native, wasm, py, ratios));

  lines.push(
    '',
    "GEMM throughput inside the step (GFLOP/s; the step's GEMM FLOPs / step time) " +
      `vs the practical peak ${fmt(peak.gflops, 1)} GFLOP/s:`,
    '',
  );
  lines.push(
    '| backend | 784-800-800-10 | % peak | 784-1200-1200-10 | % peak | ms/step (800 / 1200) |',
    '|---|--:|--:|--:|--:|--:|',
  );
  for (const [label, rows] of [
    [nativeLabel, native.results],
    [wasmLabel, wasm.results],
    [`PyTorch ${py.torch}`, py.results],
  ] as const) {
    const cells = MODELS.map(
      (m) => `${fmt(row(rows, m, label).gflop_per_s, 1)} | ${pct(row(rows, m, label).gflop_per_s, peak.gflops)}`,
    );
    const msPerStep = MODELS.map((m) => row(rows, m, label).ms_per_step.toFixed(2)).join(' / ');
    lines.push(tableRow([label, ...cells, msPerStep]));
  }

  if (native.results.every((r) => r.breakdown_ms)) {
    lines.push('', 'Where the tfjs native step goes (ms, median; cumulative prefixes of the step, differenced):', '');
    lines.push(
      tableRow([
        'model',
        'forward',
        'loss',
        'backward',
        'update (Optimizer.minimize)',
        'full step',
        'full step, true gradients + p −= lr·g',
        'PyTorch step',
      ]),
      '|---|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const r of native.results) {
      const b = r.breakdown_ms!;
      const [f, fl, flb, full, plain] = [
        'forward',
        'forward_loss',
        'forward_loss_backward',
        'full_step',
        'full_step_plain_sgd',
      ].map((k) => b[k] ?? NaN) as [number, number, number, number, number];
      const torchStep = row(py.results, r.model, 'pytorch').ms_per_step;
      const ms = [f, fl - f, flb - fl, full - flb, full, plain, torchStep].map((x) => x.toFixed(2));
      lines.push(tableRow([r.model, ...ms]));
    }
  }

  const coreSet = py.backend.numpy.runtime_core ?? '?';
  const coreUnset = unset.backend.numpy.runtime_core ?? '?';
  lines.push('', 'SGEMM C[M,N] = A[M,K]·B[K,N], fp32, GFLOP/s (median):', '');
  lines.push(
    tableRow([
      'M×K×N',
      `numpy, CORETYPE=${py.env['OPENBLAS_CORETYPE'] ?? 'unset'} (${coreSet})`,
      'torch',
      `numpy, CORETYPE unset (${coreUnset})`,
      'torch (same run)',
      'tfjs native',
      'tfjs WASM',
    ]),
    '|---|--:|--:|--:|--:|--:|--:|',
  );
  py.sgemm.forEach((r, i) => {
    const u = unset.sgemm[i];
    const tn = native.sgemm.find((x) => shape(x) === shape(r) && !x.transpose_a);
    const tw = wasm.sgemm.find((x) => shape(x) === shape(r) && !x.transpose_a);
    const f = (x: number | undefined): string => (x === undefined ? '–' : fmt(x, 1));
    const gflops = [r.numpy_gflop_per_s, r.torch_gflop_per_s, u?.numpy_gflop_per_s, u?.torch_gflop_per_s];
    lines.push(tableRow([shape(r), ...[...gflops, tn?.gflop_per_s, tw?.gflop_per_s].map(f)]));
  });
  const tA = native.sgemm.find((x) => x.transpose_a);
  const tPlain = tA && native.sgemm.find((x) => shape(x) === shape(tA) && !x.transpose_a);
  if (tA && tPlain)
    lines.push(
      '',
      `tfjs native, ${shape(tA)} as the step computes the weight gradient ` +
        `(matMul(X, dY, transposeA=true), X stored ${tA.k}×${tA.m}): ` +
        `${fmt(tA.gflop_per_s, 1)} GFLOP/s vs ${fmt(tPlain.gflop_per_s, 1)} plain.`,
    );
  lines.push('', `Practical peak: ${fmt(peak.gflops, 1)} GFLOP/s = ${peak.what}.`);
  // The issue defines the peak as the best of numpy/torch; say so when tfjs's own GEMM beats it.
  const tfBest = Math.max(...native.sgemm.map((r) => r.gflop_per_s));
  if (tfBest > peak.gflops)
    lines.push(
      `(tfjs native's own tf.matMul reached ${fmt(tfBest, 1)} GFLOP/s, ${ratio(tfBest, peak.gflops)} that reference, ` +
        "so the step's gap is not in the GEMM kernel itself.)",
    );

  // The goal is the paper's MLPs; the CNN is reported beside them.
  const worst = Math.min(...MODELS.map((m) => ratios['tfjs_native']?.[m] ?? 0));
  const met = worst >= GOAL;
  const loads = {
    start: values['load-start'] !== undefined ? Number(values['load-start']) : null,
    idle_pct_start: values['idle-start'] !== undefined ? Number(values['idle-start']) : null,
    waited_s: Number(values['waited-s'] ?? 0),
    native: [native.loadavg_before, native.loadavg_after],
    wasm: [wasm.loadavg_before, wasm.loadavg_after],
    pytorch: [py.loadavg_before, py.loadavg_after],
    sgemm_unset: [unset.loadavg_before, unset.loadavg_after],
  };
  // Under contention the frameworks degrade very differently (OpenMP/OpenBLAS threads spin at
  // barriers and collapse; TF's pool does not), so a busy run's ratios say nothing: flag it. The
  // load average can't tell (it counts the benchmark itself); run.sh measures other processes'
  // CPU use during each part ("name=pct,...").
  const foreign: Record<string, number> = Object.fromEntries(
    (values.contention ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string])
      .map(([k, v]) => [k, Number(v)]),
  );
  const worstForeign = Math.max(0, ...Object.values(foreign));
  const busy = worstForeign > MAX_FOREIGN_PCT || (loads.idle_pct_start !== null && loads.idle_pct_start < 90);
  const goal = `Goal (tfjs-node native ≥ ${GOAL.toFixed(1)}× PyTorch CPU)`;
  const verdict = busy
    ? `NOT VALID: the machine was busy (other processes used up to ${worstForeign} % of the CPUs during a part; ` +
      `${loads.idle_pct_start ?? '?'} % idle at start); rerun on a quiet machine before reading any ratio.`
    : met
      ? `${goal}: MET (worst model ${worst.toFixed(2)}×).`
      : `${goal}: MISSED — worst model at ${worst.toFixed(2)}×, ` +
        `i.e. PyTorch is ${(1 / worst).toFixed(2)}× faster ` +
        `(${((1 - worst) * 100).toFixed(0)} % short).`;
  const foreignUse =
    Object.entries(foreign)
      .map(([k, v]) => `${k} ${v} %`)
      .join(', ') || 'not measured';
  lines.push(
    '',
    verdict,
    '',
    `At start: CPU ${loads.idle_pct_start ?? '?'} % idle (5 s sample), 1-min load ${loads.start ?? '?'}. ` +
      `CPU used by other processes during each part: ${foreignUse}. ` +
      '1-min load average before/after each part (includes the benchmark itself): ' +
      `native ${loads.native.join('/')}, WASM ${loads.wasm.join('/')}, PyTorch ${loads.pytorch.join('/')}, ` +
      `SGEMM (unset) ${loads.sgemm_unset.join('/')}.`,
  );

  const date = new Date().toISOString();
  const out = {
    date,
    machine: machine(),
    load: { ...loads, foreign_cpu_pct: foreign },
    commands: values.command ?? [],
    summary: {
      valid: !busy,
      ratios_vs_pytorch: ratios,
      goal: GOAL,
      goal_met: busy ? null : met,
      worst_native_ratio: worst,
      practical_peak_gflop_per_s: peak.gflops,
      practical_peak: peak.what,
    },
    tfjs_native: native,
    tfjs_wasm: wasm,
    pytorch: py,
    sgemm_openblas_coretype_unset: unset,
  };
  writeFileSync(values.out!, `${JSON.stringify(out, null, 2)}\n`);
  const m = out.machine;
  process.stdout.write(
    [
      `Machine: ${String(m['cpu'])}, ${String(m['nproc'])} cores (${(m['simd_flags'] as string[]).join(', ')}), ` +
        `Linux ${String(m['kernel'])}, ${String(m['memory_gib'])} GiB; ` +
        `node ${process.versions.node}, tfjs ${String(native.versions['tfjs'])}, torch ${py.torch}, ` +
        `numpy ${py.numpy} (OpenBLAS ${py.backend.numpy.blas_version ?? '?'}), Python ${py.python}; ` +
        `env ${
          Object.entries(py.env)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ') || '(no BLAS knobs)'
        }; date ${date}.`,
      '',
      ...lines,
      '',
      `Written: ${values.out!}`,
      '',
    ].join('\n'),
  );
}

main();
