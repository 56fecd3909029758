/**
 * The distillation report's export and cost parts: the exported model (how it was chosen, its quantised copies,
 * whether distillation helped at all) and every model's size and speed against the teachers it replaces.
 */
import { sumCosts } from '../common/model-cost';
import { escapeCell, signed, tableHead, tableRow } from './markdown';
import { compressionTable, costComparison, formatBytes } from './compression';
import type { CostRow } from './compression';
import type { DistillationReport } from './distillation-markdown';

/** The name the teacher ensemble goes by in tables and charts. */
export const ENSEMBLE_NAME = 'teacher ensemble';

/** The exported model, how it was chosen, its quantised copies, and whether distillation helped at all. */
export function exportedSection(r: DistillationReport): string[] {
  const x = r.exported;
  const lines: string[] = [];
  if (x)
    lines.push(
      '',
      `Exported **${x.model}**${x.chosenBy ? ` (chosen by ${x.chosenBy})` : ''} in TensorFlow.js layers format: ` +
        `\`${x.modelJson}\` (+ \`${x.weights}\`).`,
    );
  const verdict = distillationVerdict(r);
  if (verdict) lines.push('', verdict);
  if (x?.quantized?.length) {
    const full = r.models.find((m) => m.name === x.model);
    lines.push('', '### Quantised exports', '');
    lines.push(...tableHead(['weights', 'export size', 'test errors', 'change vs float32', 'model.json']));
    if (full?.cost)
      lines.push(
        tableRow([
          'float32',
          formatBytes(full.cost.exportBytes),
          `${full.evaluation.errors} / ${full.evaluation.n}`,
          '',
          `\`${x.modelJson}\``,
        ]),
      );
    for (const q of x.quantized)
      lines.push(
        tableRow([
          q.quantize,
          formatBytes(q.exportBytes),
          `${q.errors} / ${q.n}`,
          full ? signed(q.errors - full.evaluation.errors) : '',
          `\`${q.modelJson}\``,
        ]),
      );
  }
  return lines;
}

/**
 * "Distillation did not help on this run: …" when the exported model is the hard-label baseline or the baseline
 * has fewer test errors than every distilled student; undefined otherwise (or without a baseline or students).
 */
export function distillationVerdict(r: DistillationReport): string | undefined {
  const baseline = r.models.find((m) => m.role === 'baseline');
  const students = r.models.filter((m) => m.role === 'student');
  if (!baseline || students.length === 0) return undefined;
  const best = students.reduce((a, b) => (b.evaluation.errors < a.evaluation.errors ? b : a));
  const reasons: string[] = [];
  if (r.exported?.model === baseline.name) reasons.push('was chosen over every distilled student');
  if (baseline.evaluation.errors < best.evaluation.errors)
    reasons.push(
      `has fewer test errors (${baseline.evaluation.errors}) than every distilled student ` +
        `(the best, **${best.name}**, has ${best.evaluation.errors})`,
    );
  if (reasons.length === 0) return undefined;
  return (
    `Distillation did not help on this run: the hard-label baseline **${baseline.name}** ` + `${reasons.join(' and ')}.`
  );
}

/** The exported student's cost against the teacher it replaces, or undefined when either cost is unknown. */
export function compressionHeadline(r: DistillationReport): string | undefined {
  const student = r.models.find((m) => m.name === r.exported?.model);
  const reference = teacherCost(r);
  if (!student?.cost || !reference) return undefined;
  return costComparison(
    { name: student.name, cost: student.cost, errors: student.evaluation.errors, n: student.evaluation.n },
    reference,
  );
}

/** The ensemble (its own cost, or its members' summed) or the single teacher, with its test errors. */
function teacherCost(r: DistillationReport): (CostRow & { label: string }) | undefined {
  const teachers = r.models.filter((m) => m.role === 'teacher');
  const e = r.ensemble;
  if (e) {
    const members = e.members.map((name) => teachers.find((t) => t.name === name)?.cost);
    const cost =
      e.cost ?? (members.every((c) => c !== undefined) && members.length > 0 ? sumCosts(members) : undefined);
    return (
      cost && { name: ENSEMBLE_NAME, role: 'ensemble', label: 'the teacher ensemble', cost, ...errorsOf(e.evaluation) }
    );
  }
  const only = teachers.length === 1 ? teachers[0] : undefined;
  return (
    only?.cost && {
      name: only.name,
      role: 'teacher',
      label: 'the teacher',
      cost: only.cost,
      ...errorsOf(only.evaluation),
    }
  );
}

const errorsOf = (e: { errors: number; n: number }): { errors: number; n: number } => ({ errors: e.errors, n: e.n });

/** Every model's cost with its errors, and the ensemble's (summed from its members when not given). */
export function costRows(r: DistillationReport): CostRow[] {
  const rows: CostRow[] = r.models.flatMap((m) =>
    m.cost ? [{ name: m.name, role: m.role, cost: m.cost, ...errorsOf(m.evaluation) }] : [],
  );
  const teacher = teacherCost(r);
  if (r.ensemble && teacher) rows.push(teacher);
  return rows;
}

export function compressionSection(r: DistillationReport): string[] {
  const rows = costRows(r);
  if (rows.length === 0) return [];
  const imported = r.models.filter((m) => m.imported && !m.cost).map((m) => escapeCell(m.name));
  const notes = [
    r.ensemble && imported.length === 0
      ? "The ensemble's cost is its members' summed (latencies add; time per example adds for throughput)."
      : '',
    imported.length > 0
      ? `Not measured (imported): ${imported.join(', ')}; so no size or speed comparison with the teachers.`
      : '',
  ];
  const note = notes.filter((n) => n !== '').join(' ');
  return ['', '## Compression: size and speed', '', ...compressionTable(rows, r.machine, note)];
}
