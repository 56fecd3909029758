/** The specialists run report: the JSON document a run stores, and its Markdown rendering (paper §5, Table 4). */
import type { ArtifactRef } from '../storage/artifact-store';
import type { SpecialistsConfig } from '../config/specialists';
import type { CombinationEvaluation, SpecialistSamplingInfo } from '../contracts/specialists';
import type { TrainResult } from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';
import type { MachineInfo } from '../contracts/vocabulary';
import { costComparison } from './compression';
import {
  WASM_FALLBACK_WARNING,
  escapeCell,
  pct,
  signed,
  signedPct,
  tableHead,
  tableRow,
  trainingNote,
} from './markdown';
import { COMBINED, combinationCostRows, compression } from './specialists-compression';

export { averageFired, combinationCostRows } from './specialists-compression';

export type TrainingOutcome = Pick<
  TrainResult,
  'cached' | 'resumedFromEpoch' | 'epochsTrained' | 'seconds' | 'backend' | 'backendFallback'
> & { epochs: number };

export interface SpecialistOutcome {
  name: string;
  subset: number[];
  manifestKey: string;
  digest: string;
  sampling: SpecialistSamplingInfo;
  training: TrainingOutcome;
  /** Size and speed of its export (absent in reports written before they were measured). */
  cost?: ModelCost;
}

export interface DistillBackOutcome {
  childWorkflowId: string;
  softTargets: { key: string; cached: boolean; inferenceSeconds: number };
  /** The child distillationPipeline's own report. */
  report: { json: string; markdown: string };
  /** Students of the child run: the hard-label baseline and each distilled student. */
  models: {
    name: string;
    role: string;
    errors: number;
    accuracy: number;
    manifestKey: string;
    cached: boolean;
    cost?: ModelCost;
  }[];
}

export interface SpecialistsReport {
  workflowId: string;
  pipeline: 'specialistsPipeline';
  config: SpecialistsConfig;
  dataset: string;
  classNames: string[];
  generalist: {
    manifestKey: string;
    digest: string;
    given: boolean;
    training?: TrainingOutcome;
    /** Size and speed of its export (absent in reports written before they were measured). */
    cost?: ModelCost;
  };
  clustering: {
    key: string;
    cached: boolean;
    /** Every k-means cluster (a partition of the classes). */
    subsets: number[][];
    /** Examples (of clustering.on) whose predictions gave the covariance. */
    examples: number;
    covariance: ArtifactRef;
    /** The C×C covariance itself, filled in by the report writer for up to 64 classes. */
    covarianceMatrix?: number[][];
    /** Clusters that got no specialist (fewer than clustering.minClasses classes). */
    skipped: number[][];
  };
  specialists: SpecialistOutcome[];
  evaluation: CombinationEvaluation;
  distillBack?: DistillBackOutcome;
  /** The generalist + specialists package (layers models, combination.json, loader.mjs). */
  exported?: { dir: string; manifest: string };
  /**
   * Specialists active per test input, on average: what the combination costs per example beyond the generalist.
   * Absent in older reports; then derived from the firing counts.
   */
  averageSpecialistsFired?: number;
  /** Where the costs were measured. */
  machine?: MachineInfo;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
}

/** Class names in a Markdown table cell (pipes escaped). */
const names = (r: SpecialistsReport, subset: readonly number[]): string =>
  subset.map((c) => escapeCell(r.classNames[c] ?? String(c))).join(', ');

/** Rows for Table 4 as the paper prints them: 0, 1, …, 9, then "10 or more" pooled. */
export function table4Rows(
  rows: CombinationEvaluation['byCoverage'],
  poolFrom = 10,
): { label: string; examples: number; delta: number; relativeChange: number }[] {
  const out: { label: string; examples: number; generalistCorrect: number; delta: number }[] = [];
  for (const row of rows) {
    if (row.specialists < poolFrom)
      out.push({
        label: String(row.specialists),
        examples: row.examples,
        generalistCorrect: row.generalistCorrect,
        delta: row.delta,
      });
    else {
      let pooled = out.find((o) => o.label === `${poolFrom} or more`);
      if (!pooled) out.push((pooled = { label: `${poolFrom} or more`, examples: 0, generalistCorrect: 0, delta: 0 }));
      pooled.examples += row.examples;
      pooled.generalistCorrect += row.generalistCorrect;
      pooled.delta += row.delta;
    }
  }
  return out.map((o) => ({
    label: o.label,
    examples: o.examples,
    delta: o.delta,
    relativeChange: o.generalistCorrect > 0 ? o.delta / o.generalistCorrect : 0,
  }));
}

/** Share of the specialists' gain (fewer test errors than the generalist) a student keeps. */
export function gainKept(generalistErrors: number, combinedErrors: number, studentErrors: number): number | undefined {
  const gain = generalistErrors - combinedErrors;
  return gain > 0 ? (generalistErrors - studentErrors) / gain : undefined;
}

export function renderSpecialistsReport(r: SpecialistsReport): string {
  const lines = [
    ...header(r),
    ...testErrors(r),
    ...distillBack(r),
    ...exported(r),
    ...compression(r),
    ...subsets(r),
    ...covariance(r),
    ...coverage(r.evaluation),
    ...subsetAccuracy(r),
    ...firing(r.evaluation),
    ...perClassErrors(r),
  ];
  return `${lines.join('\n')}\n`;
}

function header(r: SpecialistsReport): string[] {
  const e = r.evaluation;
  const trainings = [r.generalist.training, ...r.specialists.map((s) => s.training)];
  const count = r.specialists.length;
  return [
    `# chrysalis specialists run ${r.workflowId}`,
    '',
    ...(trainings.some((t) => t?.backendFallback) ? WASM_FALLBACK_WARNING : []),
    `Preset/config **${r.config.name}**, dataset **${r.dataset}** (${r.classNames.length} classes), ` +
      `seed ${r.config.seed}, wall time ${r.wallSeconds.toFixed(1)} s.`,
    `${count} specialist${count === 1 ? '' : 's'} from ${r.clustering.subsets.length} clusters; ` +
      `combination: top-${e.topN} generalist classes select the active specialists, ` +
      `KL minimised (≤ ${e.iterations} iterations, ${e.combineSeconds.toFixed(1)} s).`,
    '',
    ...headline(r),
  ];
}

/** The combination's cost against the generalist's, near the top. */
function headline(r: SpecialistsReport): string[] {
  const rows = combinationCostRows(r);
  const [generalist, combined] = [rows.find((x) => x.name === 'generalist'), rows.find((x) => x.name === COMBINED)];
  if (!generalist || !combined) return [];
  return [`**${escapeCell(costComparison(combined, { ...generalist, label: 'the generalist' }))}**`, ''];
}

function testErrors(r: SpecialistsReport): string[] {
  const e = r.evaluation;
  const vsGeneralist = (errors: number, relative: number) =>
    `${signed(errors - e.generalist.errors)} (${signedPct(relative)})`;
  const lines = ['## Test errors', ''];
  lines.push(...tableHead(['model', 'test errors', 'accuracy', 'change in errors vs generalist']));
  lines.push(`| generalist | ${e.generalist.errors} / ${e.n} | ${pct(e.generalist.accuracy)} | |`);
  lines.push(
    tableRow([
      'generalist + specialists',
      `${e.combined.errors} / ${e.n}`,
      pct(e.combined.accuracy),
      vsGeneralist(e.combined.errors, e.relativeErrorChange),
    ]),
  );
  for (const m of r.distillBack?.models ?? []) {
    const rel = e.generalist.errors > 0 ? (m.errors - e.generalist.errors) / e.generalist.errors : 0;
    lines.push(
      tableRow([
        `${escapeCell(m.name)} (distilled back, ${m.role})`,
        `${m.errors} / ${e.n}`,
        pct(m.accuracy),
        vsGeneralist(m.errors, rel),
      ]),
    );
  }
  return lines;
}

/** How much of the combination's gain each distilled-back student keeps, and where its soft targets came from. */
function distillBack(r: SpecialistsReport): string[] {
  const back = r.distillBack;
  if (!back) return [];
  const e = r.evaluation;
  const gain = e.generalist.errors - e.combined.errors;
  const lines = [''];
  if (gain <= 0)
    lines.push(
      `The combination did not beat the generalist (${signed(-gain)} errors), ` +
        'so there is no gain for a student to keep.',
    );
  const baseline = back.models.find((m) => m.role === 'baseline');
  for (const s of back.models.filter((m) => m.role === 'student')) {
    const kept = gainKept(e.generalist.errors, e.combined.errors, s.errors);
    if (kept === undefined) continue;
    const vsBaseline = baseline
      ? ` Against its own recipe on hard labels (${escapeCell(baseline.name)}, ${baseline.errors} errors) ` +
        `it has ${signed(s.errors - baseline.errors)} errors.`
      : '';
    lines.push(
      kept > 0
        ? `**${escapeCell(s.name)}** keeps ${(kept * 100).toFixed(0)}% of the specialists' gain ` +
            `(${e.generalist.errors - s.errors} of ${gain} fewer errors than the generalist).${vsBaseline}`
        : `**${escapeCell(s.name)}** keeps none of the specialists' gain: ` +
            `${s.errors - e.generalist.errors} more errors than the generalist ` +
            `(the combination had ${gain} fewer).${vsBaseline}`,
    );
  }
  const st = back.softTargets;
  lines.push(
    '',
    `Distilled from soft targets \`${st.key}\` ` +
      `(${st.cached ? 'reused' : `computed, ${st.inferenceSeconds.toFixed(1)} s`}) ` +
      `by child workflow \`${back.childWorkflowId}\`; its report: \`${back.report.markdown}\`.`,
  );
  return lines;
}

function exported(r: SpecialistsReport): string[] {
  if (!r.exported) return [];
  return [
    '',
    'Exported the generalist and specialists as one package with a loader that performs the KL combination: ' +
      `\`${r.exported.dir}/\` (\`chrysalis predict --model ${r.exported.dir} <image.png>\`).`,
  ];
}

/** The confusable subsets, each specialist's sampling and training, and the clusters that got none. */
function subsets(r: SpecialistsReport): string[] {
  const c = r.clustering;
  const lines = ['', '## Confusable subsets', ''];
  lines.push(
    `k-means (k = ${c.subsets.length}${r.config.clustering.normalize ? ', unit-length columns' : ''}) ` +
      "on the columns of the covariance of the generalist's predicted probabilities " +
      `over ${c.examples} ${r.config.clustering.on} examples; clusters \`${c.key}\`${c.cached ? ' (reused)' : ''}.`,
    '',
  );
  lines.push(
    ...tableHead([
      'specialist',
      'classes',
      'examples/epoch',
      'natural share π',
      'oversampling π′/π',
      'correction factor (dustbin logit +log)',
      'train time',
      'note',
    ]),
  );
  for (const s of r.specialists) {
    const { sampling, training } = s;
    const logCorrection = Math.log(sampling.correctionFactor);
    lines.push(
      tableRow([
        s.name,
        names(r, s.subset),
        sampling.examples,
        pct(sampling.naturalFraction, 1),
        sampling.oversampling.toFixed(3),
        `${sampling.correctionFactor.toFixed(3)} (${logCorrection >= 0 ? '+' : ''}${logCorrection.toFixed(3)})`,
        `${training.seconds.toFixed(1)} s`,
        trainingNote(training),
      ]),
    );
  }
  for (const s of c.skipped)
    lines.push(
      `| — | ${names(r, s)} | | | | | | no specialist (fewer than ${r.config.clustering.minClasses} classes) |`,
    );
  return lines;
}

function covariance(r: SpecialistsReport): string[] {
  const cov = r.clustering.covarianceMatrix;
  if (!cov) return ['', `Covariance matrix: \`${r.clustering.covariance.key}\` (C×C float32).`];
  const lines = ['', '### Covariance of the predicted probabilities (×10⁴)', ''];
  const [, separator] = tableHead(['', ...r.classNames]);
  lines.push(`| | ${r.classNames.map(escapeCell).join(' | ')} |`, separator!);
  cov.forEach((row, i) =>
    lines.push(tableRow([`**${escapeCell(r.classNames[i] ?? String(i))}**`, ...row.map((v) => (v * 1e4).toFixed(1))])),
  );
  return lines;
}

function coverage(e: CombinationEvaluation): string[] {
  const lines = ['', '## Test examples by number of specialists covering (paper Table 4)', ''];
  lines.push(
    ...tableHead([
      '# of specialists covering',
      '# of test examples',
      'delta in # correct (top-1)',
      'relative change in top-1 accuracy',
    ]),
  );
  for (const row of table4Rows(e.byCoverage))
    lines.push(tableRow([row.label, row.examples, signed(row.delta), signedPct(row.relativeChange)]));
  return lines;
}

function subsetAccuracy(r: SpecialistsReport): string[] {
  const lines = ['', '## Accuracy on each subset', ''];
  lines.push(
    'Test examples whose true class is in the subset; "specialist alone" is the argmax of its |S|+1 outputs.',
    '',
  );
  lines.push(...tableHead(['specialist', 'classes', 'test examples', 'generalist', 'combined', 'specialist alone']));
  for (const s of r.evaluation.perSubset) {
    const a = (k: number): string => (s.examples > 0 ? pct(k / s.examples) : '');
    lines.push(
      tableRow([
        s.name,
        names(r, s.subset),
        s.examples,
        a(s.generalistCorrect),
        a(s.combinedCorrect),
        a(s.specialistCorrect),
      ]),
    );
  }
  return lines;
}

function firing(e: CombinationEvaluation): string[] {
  const lines = ['', '## Which specialist fired', ''];
  lines.push(...tableHead(['specialist', 'active on (test inputs)', 'share', 'true class in its subset when active']));
  for (const f of e.firing)
    lines.push(
      tableRow([
        f.name,
        f.fired,
        pct(e.n > 0 ? f.fired / e.n : 0, 1),
        f.fired > 0 ? pct(f.firedOnSubset / f.fired, 1) : '',
      ]),
    );
  return lines;
}

function perClassErrors(r: SpecialistsReport): string[] {
  const e = r.evaluation;
  return [
    '',
    '## Per-class test errors',
    '',
    ...tableHead(['model', ...r.classNames.map(escapeCell)]),
    tableRow(['generalist', ...e.generalist.perClassErrors]),
    tableRow(['generalist + specialists', ...e.combined.perClassErrors]),
  ];
}
