/** The specialists run report: a JSON document and its Markdown rendering (paper §5, Table 4 layout). */
import type { ArtifactRef, ArtifactStore } from '../storage/artifact-store';
import { getJson } from '../storage/artifact-store';
import type { SpecialistsConfig } from '../config/specialists';
import type { ChartInputs } from '../reports/charts';
import { trainingCurves } from './report';
import type { CombinationEvaluation, SpecialistSamplingInfo } from './specialists-types';
import type { TrainResult } from './types';

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
}

export interface DistillBackOutcome {
  childWorkflowId: string;
  softTargets: { key: string; cached: boolean; inferenceSeconds: number };
  /** The child distillationPipeline's own report. */
  report: { json: string; markdown: string };
  /** Students of the child run: the hard-label baseline and each distilled student. */
  models: { name: string; role: string; errors: number; accuracy: number; manifestKey: string; cached: boolean }[];
}

export interface SpecialistsReport {
  workflowId: string;
  pipeline: 'specialistsPipeline';
  config: SpecialistsConfig;
  dataset: string;
  classNames: string[];
  generalist: { manifestKey: string; digest: string; given: boolean; training?: TrainingOutcome };
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
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
}

const pct = (x: number, digits = 2): string => `${(x * 100).toFixed(digits)}%`;
const signed = (x: number): string => (x > 0 ? `+${x}` : `${x}`);
const signedPct = (x: number, digits = 1): string => `${x > 0 ? '+' : ''}${(x * 100).toFixed(digits)}%`;
/** Class names in a Markdown table cell (pipes escaped). */
const names = (r: SpecialistsReport, subset: readonly number[]): string =>
  subset.map((c) => (r.classNames[c] ?? String(c)).replace(/\|/g, '\\|')).join(', ');
const escape = (s: string): string => s.replace(/\|/g, '\\|');

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
  const e = r.evaluation;
  const lines: string[] = [];
  lines.push(`# chrysalis specialists run ${r.workflowId}`, '');
  const fallback = [r.generalist.training, ...r.specialists.map((s) => s.training)].some((t) => t?.backendFallback);
  if (fallback)
    lines.push(
      '> **WARNING: trained on the WASM fallback backend, not native TensorFlow.** Timings are not representative; run `npm run setup`.',
      '',
    );
  lines.push(
    `Preset/config **${r.config.name}**, dataset **${r.dataset}** (${r.classNames.length} classes), seed ${r.config.seed}, wall time ${r.wallSeconds.toFixed(1)} s.`,
  );
  lines.push(
    `${r.specialists.length} specialist${r.specialists.length === 1 ? '' : 's'} from ${r.clustering.subsets.length} clusters; combination: top-${e.topN} generalist classes select the active specialists, KL minimised (≤ ${e.iterations} iterations, ${e.combineSeconds.toFixed(1)} s).`,
    '',
  );

  lines.push('## Test errors', '');
  lines.push('| model | test errors | accuracy | change in errors vs generalist |', '|---|---|---|---|');
  lines.push(`| generalist | ${e.generalist.errors} / ${e.n} | ${pct(e.generalist.accuracy)} | |`);
  lines.push(
    `| generalist + specialists | ${e.combined.errors} / ${e.n} | ${pct(e.combined.accuracy)} | ${signed(e.combined.errors - e.generalist.errors)} (${signedPct(e.relativeErrorChange)}) |`,
  );
  for (const m of r.distillBack?.models ?? []) {
    const rel = e.generalist.errors > 0 ? (m.errors - e.generalist.errors) / e.generalist.errors : 0;
    lines.push(
      `| ${escape(m.name)} (distilled back, ${m.role}) | ${m.errors} / ${e.n} | ${pct(m.accuracy)} | ${signed(m.errors - e.generalist.errors)} (${signedPct(rel)}) |`,
    );
  }
  if (r.distillBack) {
    const gain = e.generalist.errors - e.combined.errors;
    const students = r.distillBack.models.filter((m) => m.role === 'student');
    lines.push('');
    if (gain <= 0)
      lines.push(
        `The combination did not beat the generalist (${signed(-gain)} errors), so there is no gain for a student to keep.`,
      );
    const baseline = r.distillBack.models.find((m) => m.role === 'baseline');
    for (const s of students) {
      const kept = gainKept(e.generalist.errors, e.combined.errors, s.errors);
      const vsBaseline = baseline
        ? ` Against its own recipe on hard labels (${escape(baseline.name)}, ${baseline.errors} errors) it has ${signed(s.errors - baseline.errors)} errors.`
        : '';
      if (kept === undefined) continue;
      if (kept > 0)
        lines.push(
          `**${escape(s.name)}** keeps ${(kept * 100).toFixed(0)}% of the specialists' gain (${e.generalist.errors - s.errors} of ${gain} fewer errors than the generalist).${vsBaseline}`,
        );
      else
        lines.push(
          `**${escape(s.name)}** keeps none of the specialists' gain: ${s.errors - e.generalist.errors} more errors than the generalist (the combination had ${gain} fewer).${vsBaseline}`,
        );
    }
    lines.push(
      '',
      `Distilled from soft targets \`${r.distillBack.softTargets.key}\` (${r.distillBack.softTargets.cached ? 'reused' : `computed, ${r.distillBack.softTargets.inferenceSeconds.toFixed(1)} s`}) by child workflow \`${r.distillBack.childWorkflowId}\`; its report: \`${r.distillBack.report.markdown}\`.`,
    );
  }

  if (r.exported)
    lines.push(
      '',
      `Exported the generalist and specialists as one package with a loader that performs the KL combination: \`${r.exported.dir}/\` (\`chrysalis predict --model ${r.exported.dir} <image.png>\`).`,
    );

  lines.push('', '## Confusable subsets', '');
  lines.push(
    `k-means (k = ${r.clustering.subsets.length}${r.config.clustering.normalize ? ', unit-length columns' : ''}) on the columns of the covariance of the generalist's predicted probabilities over ${r.clustering.examples} ${r.config.clustering.on} examples; clusters \`${r.clustering.key}\`${r.clustering.cached ? ' (reused)' : ''}.`,
    '',
  );
  lines.push(
    '| specialist | classes | examples/epoch | natural share π | oversampling π′/π | correction factor (dustbin logit +log) | train time | note |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const s of r.specialists) {
    const t = s.training;
    const note = t.cached ? 'cached' : t.resumedFromEpoch > 0 ? `resumed at epoch ${t.resumedFromEpoch}` : '';
    lines.push(
      `| ${s.name} | ${names(r, s.subset)} | ${s.sampling.examples} | ${pct(s.sampling.naturalFraction, 1)} | ${s.sampling.oversampling.toFixed(3)} | ${s.sampling.correctionFactor.toFixed(3)} (${Math.log(s.sampling.correctionFactor) >= 0 ? '+' : ''}${Math.log(s.sampling.correctionFactor).toFixed(3)}) | ${t.seconds.toFixed(1)} s | ${note} |`,
    );
  }
  for (const s of r.clustering.skipped)
    lines.push(
      `| — | ${names(r, s)} | | | | | | no specialist (fewer than ${r.config.clustering.minClasses} classes) |`,
    );

  const cov = r.clustering.covarianceMatrix;
  if (cov) {
    const C = r.classNames.length;
    lines.push('', '### Covariance of the predicted probabilities (×10⁴)', '');
    lines.push(`| | ${r.classNames.map(escape).join(' | ')} |`, `|---|${'---|'.repeat(C)}`);
    cov.forEach((row, i) =>
      lines.push(
        `| **${escape(r.classNames[i] ?? String(i))}** | ${row.map((v) => (v * 1e4).toFixed(1)).join(' | ')} |`,
      ),
    );
  } else {
    lines.push('', `Covariance matrix: \`${r.clustering.covariance.key}\` (C×C float32).`);
  }

  lines.push('', '## Test examples by number of specialists covering (paper Table 4)', '');
  lines.push(
    '| # of specialists covering | # of test examples | delta in # correct (top-1) | relative change in top-1 accuracy |',
    '|---|---|---|---|',
  );
  for (const row of table4Rows(e.byCoverage))
    lines.push(`| ${row.label} | ${row.examples} | ${signed(row.delta)} | ${signedPct(row.relativeChange)} |`);

  lines.push('', '## Accuracy on each subset', '');
  lines.push(
    'Test examples whose true class is in the subset; "specialist alone" is the argmax of its |S|+1 outputs.',
    '',
  );
  lines.push(
    '| specialist | classes | test examples | generalist | combined | specialist alone |',
    '|---|---|---|---|---|---|',
  );
  for (const s of e.perSubset) {
    const a = (k: number): string => (s.examples > 0 ? pct(k / s.examples) : '');
    lines.push(
      `| ${s.name} | ${names(r, s.subset)} | ${s.examples} | ${a(s.generalistCorrect)} | ${a(s.combinedCorrect)} | ${a(s.specialistCorrect)} |`,
    );
  }

  lines.push('', '## Which specialist fired', '');
  lines.push(
    '| specialist | active on (test inputs) | share | true class in its subset when active |',
    '|---|---|---|---|',
  );
  for (const f of e.firing)
    lines.push(
      `| ${f.name} | ${f.fired} | ${pct(e.n > 0 ? f.fired / e.n : 0, 1)} | ${f.fired > 0 ? pct(f.firedOnSubset / f.fired, 1) : ''} |`,
    );

  lines.push('', '## Per-class test errors', '');
  const C = r.classNames.length;
  lines.push(`| model | ${r.classNames.map(escape).join(' | ')} |`, `|---|${'---|'.repeat(C)}`);
  lines.push(`| generalist | ${e.generalist.perClassErrors.join(' | ')} |`);
  lines.push(`| generalist + specialists | ${e.combined.perClassErrors.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

/** Training curves (generalist and specialists), both confusion matrices, the subsets and Table 4. */
export async function specialistsChartInputs(store: ArtifactStore, r: SpecialistsReport): Promise<ChartInputs> {
  const curves = await trainingCurves(store, [
    { name: 'generalist', manifestKey: r.generalist.manifestKey },
    ...r.specialists,
  ]);
  const details = await getJson<{ generalist: { confusion: number[][] }; combined: { confusion: number[][] } }>(
    store,
    r.evaluation.details,
  );
  const title = `specialists run ${r.workflowId}`;
  return {
    title,
    curves,
    confusions: [
      { model: 'generalist', classNames: r.classNames, matrix: details.generalist.confusion },
      { model: 'generalist + specialists', classNames: r.classNames, matrix: details.combined.confusion },
    ],
    subsets: r.specialists.map((s, m) => ({
      specialist: m + 1,
      classes: s.subset.map((c) => r.classNames[c] ?? String(c)),
    })),
    coverage: table4Rows(r.evaluation.byCoverage).map((row) => ({
      specialistsCovering: row.label,
      examples: row.examples,
      deltaCorrect: row.delta,
      relativeChange: row.relativeChange,
    })),
  };
}
