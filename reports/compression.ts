/**
 * What a model costs to deploy, as both run reports print it: parameters, export size, latency at batch 1 and
 * throughput at batch 256 on the worker's native backend and on plain tfjs, with the machine they were measured
 * on; and the one-line comparison of a student with the teacher it replaces.
 */
import type { InferenceSpeed, ModelCost } from '../common/model-cost';
import type { MachineInfo } from '../contracts/vocabulary';
import type { TradeoffPoint } from './charts';
import { escapeCell, tableHead, tableRow } from './markdown';

/** A model's cost with its test errors, for the table, the headline and the error-vs-latency chart. */
export interface CostRow {
  name: string;
  /** teacher, ensemble, baseline, student, generalist, …: its colour on the chart. */
  role?: string;
  cost: ModelCost;
  errors?: number;
  n?: number;
}

/** Bytes for people: `512 B`, `12.3 KiB`, `4.56 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** A count with thousands separators: `1234567` → `1,234,567`. */
export const formatCount = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Milliseconds with the digits that mean something at that size. */
export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** A ratio as the headline prints it: `12×` from 10 up, `9.2×` below. */
export function formatRatio(x: number): string {
  return x >= 10 ? `${Math.round(x)}×` : `${x.toFixed(1)}×`;
}

/** The machine line printed beside the numbers: without it they mean nothing. */
export function machineLine(m: MachineInfo): string {
  const simd = m.simd.length > 0 ? m.simd.join(', ') : 'none detected';
  return `Measured on ${m.cpu} (${m.cores} cores; SIMD: ${simd}), node ${m.node}, tfjs ${m.tfjs}.`;
}

const speedCells = (s: InferenceSpeed): string[] => [
  `${formatMs(s.batch1.p50Ms)} / ${formatMs(s.batch1.p95Ms)}`,
  formatCount(s.batch256.examplesPerSecond),
];

/** The compression table: one row per model that has a cost, the machine line (and `note`) under it. */
export function compressionTable(rows: readonly CostRow[], machine: MachineInfo | undefined, note = ''): string[] {
  if (rows.length === 0) return [];
  const native = rows[0]!.cost.native.backend;
  const plain = rows[0]!.cost.plain.backend;
  const lines = [
    ...tableHead([
      'model',
      'parameters',
      'export size',
      `${native} (native): batch-1 p50 / p95 ms`,
      `${native}: batch-256 ex/s`,
      `plain tfjs (${plain}): batch-1 p50 / p95 ms`,
      `plain tfjs: batch-256 ex/s`,
    ]),
  ];
  for (const r of rows)
    lines.push(
      tableRow([
        escapeCell(r.name),
        formatCount(r.cost.parameters),
        formatBytes(r.cost.exportBytes),
        ...speedCells(r.cost.native),
        ...speedCells(r.cost.plain),
      ]),
    );
  lines.push(
    '',
    'Latency: single-example calls after warm-up; throughput: batch-256 calls. ' +
      (machine ? machineLine(machine) : 'The machine they were measured on was not recorded.') +
      (note ? ` ${note}` : ''),
  );
  return lines;
}

/** Error rate in percentage points, or undefined without a test count. */
const errorPoints = (r: Pick<CostRow, 'errors' | 'n'>): number | undefined =>
  r.errors !== undefined && r.n ? (100 * r.errors) / r.n : undefined;

/** Signed percentage points: `+0.4`, `-1.2`, `+0.04` (two digits below a tenth, so a small change shows). */
function signedPoints(d: number): string {
  const digits = d !== 0 && Math.abs(d) < 0.1 ? 2 : 1;
  return `${d >= 0 ? '+' : '-'}${Math.abs(d).toFixed(digits)}`;
}

/**
 * `student: 12× fewer parameters, 9.0× faster at batch 1 (native), +0.4 points test error vs the teacher ensemble`.
 * Ratios below one read the other way round ("2.0× more parameters", "1.5× slower").
 */
export function costComparison(student: CostRow, reference: CostRow & { label: string }): string {
  const params = reference.cost.parameters / student.cost.parameters;
  const speed = reference.cost.native.batch1.p50Ms / student.cost.native.batch1.p50Ms;
  const parts = [
    params >= 1 ? `${formatRatio(params)} fewer parameters` : `${formatRatio(1 / params)} more parameters`,
    `${speed >= 1 ? formatRatio(speed) : formatRatio(1 / speed)} ` +
      `${speed >= 1 ? 'faster' : 'slower'} at batch 1 (native)`,
  ];
  const s = errorPoints(student);
  const t = errorPoints(reference);
  if (s !== undefined && t !== undefined) parts.push(`${signedPoints(s - t)} points test error`);
  return `${student.name}: ${parts.join(', ')} vs ${reference.label}`;
}

/** The error-vs-latency chart's points: one per row with test errors. */
export function tradeoffPoints(rows: readonly CostRow[]): TradeoffPoint[] {
  return rows.flatMap((r) =>
    r.errors !== undefined && r.n
      ? [{ model: r.name, role: r.role ?? 'model', errorRate: r.errors / r.n, p50Ms: r.cost.native.batch1.p50Ms }]
      : [],
  );
}
