/**
 * The specialists report's cost part: the generalist, each specialist and the combination per test input (the
 * generalist plus the specialists that fire on average), against the students distilled back from it.
 */
import { sumCosts } from '../common/model-cost';
import { compressionTable, costComparison, formatBytes, formatCount } from './compression';
import type { CostRow } from './compression';
import { escapeCell } from './markdown';
import type { SpecialistsReport } from './specialists-markdown';

/** The row name of the generalist with its specialists. */
export const COMBINED = 'generalist + specialists';

/** Specialists active per test input: the report's figure, or the firing counts' mean. */
export function averageFired(r: SpecialistsReport): number {
  const e = r.evaluation;
  return r.averageSpecialistsFired ?? (e.n > 0 ? e.firing.reduce((s, f) => s + f.fired, 0) / e.n : 0);
}

/**
 * The generalist, each specialist, the combination per example (the generalist plus the average number of
 * specialists that fire, each at the mean specialist's cost) and the distilled-back students, where measured.
 */
export function combinationCostRows(r: SpecialistsReport): CostRow[] {
  const e = r.evaluation;
  const rows: CostRow[] = [];
  const g = r.generalist.cost;
  if (g) rows.push({ name: 'generalist', role: 'generalist', cost: g, errors: e.generalist.errors, n: e.n });
  for (const s of r.specialists) if (s.cost) rows.push({ name: s.name, role: 'specialist', cost: s.cost });
  const costs = r.specialists.map((s) => s.cost);
  if (g && costs.length > 0 && costs.every((c) => c !== undefined)) {
    const weight = averageFired(r) / costs.length;
    rows.push({
      name: COMBINED,
      role: 'combination',
      cost: sumCosts([g, ...costs], [1, ...costs.map(() => weight)]),
      errors: e.combined.errors,
      n: e.n,
    });
  }
  for (const m of r.distillBack?.models ?? [])
    if (m.cost) rows.push({ name: `${m.name} (distilled back)`, role: m.role, cost: m.cost, errors: m.errors, n: e.n });
  return rows;
}

export function compression(r: SpecialistsReport): string[] {
  const rows = combinationCostRows(r);
  if (rows.length === 0) return [];
  const lines = ['', '## Compression: size and speed', '', ...compressionTable(rows, r.machine)];
  const g = r.generalist.cost;
  const all = r.specialists.map((s) => s.cost);
  if (g && all.length > 0 && all.every((c) => c !== undefined)) {
    const shipped = sumCosts([g, ...all]);
    lines.push(
      '',
      `The **${COMBINED}** row is one test input's cost: the generalist plus ${averageFired(r).toFixed(2)} ` +
        `of ${all.length} specialists firing on average, each at the mean specialist's cost; the KL combination ` +
        `itself is not counted. The package ships all of them: ${formatCount(shipped.parameters)} parameters, ` +
        `${formatBytes(shipped.exportBytes)}.`,
    );
  }
  const combined = rows.find((x) => x.name === COMBINED);
  const students = rows.filter((x) => x.name.endsWith('(distilled back)'));
  if (combined && students.length > 0)
    lines.push('', ...students.map((s) => `- ${escapeCell(costComparison(s, { ...combined, label: COMBINED }))}`));
  return lines;
}
