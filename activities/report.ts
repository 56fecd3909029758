/** The distillation run report: a JSON document, its Markdown rendering, and its chart inputs. */
import type { DistillationConfig } from '../config/schemas';
import type { EpochStats } from '../ml/train';
import type { ChartInputs } from '../reports/charts';
import type { ArtifactStore } from '../storage/artifact-store';
import { getJson } from '../storage/artifact-store';
import { readManifest } from './artifacts';
import type { EvaluationSummary, TrainResult } from './types';

export interface ModelOutcome {
  name: string;
  role: 'teacher' | 'baseline' | 'student' | 'model';
  temperature?: number;
  alpha?: number;
  training?: Pick<
    TrainResult,
    'cached' | 'resumedFromEpoch' | 'epochsTrained' | 'seconds' | 'backend' | 'backendFallback'
  > & {
    epochs: number;
    /** Seconds inside the training loop this attempt (sum of epoch times): compute, not orchestration. */
    loopSeconds: number;
  };
  evaluation: EvaluationSummary;
  manifestKey: string;
}

export interface DistillationReport {
  workflowId: string;
  pipeline: 'distillationPipeline';
  config: DistillationConfig;
  softTargets: { key: string; cacheHit: boolean; inferenceSeconds: number };
  models: ModelOutcome[];
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  exported?: { model: string; modelJson: string; weights: string };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

export function renderDistillationReport(r: DistillationReport): string {
  const lines: string[] = [];
  lines.push(`# chrysalis run ${r.workflowId}`, '');
  const fallback = r.models.some((m) => m.training?.backendFallback);
  if (fallback)
    lines.push(
      '> **WARNING: trained on the WASM fallback backend, not native TensorFlow.** Timings are not representative; run `npm run setup`.',
      '',
    );
  lines.push(
    `Preset/config **${r.config.name}**, dataset **${r.config.data.dataset}**, seed ${r.config.seed}, wall time ${r.wallSeconds.toFixed(1)} s.`,
  );
  lines.push(
    `Soft targets \`${r.softTargets.key}\`: ${r.softTargets.cacheHit ? 'cache hit (no teacher trained or run)' : 'computed this run'}; ensemble ${r.config.ensemble}; transfer set ${JSON.stringify(r.config.transfer)}.`,
    '',
  );
  lines.push(
    '| model | role | T | α | test errors | accuracy | epochs | train time | note |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const m of r.models) {
    const t = m.training;
    const note = t
      ? t.cached
        ? 'cached'
        : t.resumedFromEpoch > 0
          ? `resumed at epoch ${t.resumedFromEpoch}`
          : ''
      : 'given';
    lines.push(
      `| ${m.name} | ${m.role} | ${m.temperature ?? ''} | ${m.alpha ?? ''} | ${m.evaluation.errors} / ${m.evaluation.n} | ${pct(m.evaluation.accuracy)} | ${t?.epochs ?? ''} | ${t ? `${t.seconds.toFixed(1)} s` : ''} | ${note} |`,
    );
  }
  if (r.exported)
    lines.push(
      '',
      `Exported **${r.exported.model}** in TensorFlow.js layers format: \`${r.exported.modelJson}\` (+ \`${r.exported.weights}\`).`,
    );
  const shifted = r.models.filter((m) => m.evaluation.biasShift);
  if (shifted.length > 0) {
    lines.push('', '## Bias shift for the classes missing from or alone in the transfer set', '');
    lines.push(
      '| model | classes | errors before | shift (validation) | errors after | test-optimal shift (for comparison) | errors |',
      '|---|---|---|---|---|---|---|',
    );
    for (const m of shifted) {
      const b = m.evaluation.biasShift!;
      lines.push(
        `| ${m.name} | ${b.classes.join(', ')} | ${m.evaluation.errors} | ${b.validationShift} | ${b.testErrorsWithValidationShift} | ${b.testOptimalShift} | ${b.testOptimalErrors} |`,
      );
    }
  }
  lines.push('', '## Per-class test errors', '');
  const C = r.models[0]?.evaluation.perClassErrors.length ?? 0;
  lines.push(`| model | ${Array.from({ length: C }, (_, c) => c).join(' | ')} |`, `|---|${'---|'.repeat(C)}`);
  for (const m of r.models) lines.push(`| ${m.name} | ${m.evaluation.perClassErrors.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

/** One curve point per epoch of each model, from the training history in its manifest. */
export async function trainingCurves(
  store: ArtifactStore,
  models: readonly { name: string; manifestKey: string }[],
): Promise<NonNullable<ChartInputs['curves']>> {
  const curves: NonNullable<ChartInputs['curves']> = [];
  for (const m of models) {
    const manifest = await readManifest(store, m.manifestKey);
    for (const h of (manifest.provenance['history'] as EpochStats[] | undefined) ?? [])
      curves.push({ model: m.name, epoch: h.epoch, loss: h.loss, trainAccuracy: h.trainAccuracy });
  }
  return curves;
}

/** Training curves (from model manifests), confusion matrices (from stored evaluations), the T sweep. */
export async function distillationChartInputs(store: ArtifactStore, r: DistillationReport): Promise<ChartInputs> {
  const curves = await trainingCurves(store, r.models);
  const confusions: NonNullable<ChartInputs['confusions']> = [];
  for (const m of r.models) {
    const details = await getJson<{ confusion: number[][]; classNames: string[] }>(store, m.evaluation.details);
    confusions.push({ model: m.name, classNames: details.classNames, matrix: details.confusion });
  }
  const students = r.models.filter((m) => m.role === 'student' && m.temperature !== undefined);
  const baseline = r.models.find((m) => m.role === 'baseline');
  return {
    title: `chrysalis run ${r.workflowId}`,
    curves,
    confusions,
    ...(students.length > 1
      ? {
          temperatureSweep: students.map((m) => ({
            temperature: m.temperature!,
            alpha: m.alpha ?? 1,
            errors: m.evaluation.errors,
          })),
        }
      : {}),
    ...(baseline ? { baselineErrors: baseline.evaluation.errors } : {}),
  };
}
