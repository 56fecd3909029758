/**
 * The run reports' inputs from the store: training curves, confusion matrices and the cost points of the distillation
 * and the specialists reports. The documents and their Markdown live in reports/distillation-markdown.ts and
 * reports/specialists-markdown.ts; the renderers are re-exported here for the pipeline activities.
 */
import type { EpochStats } from '../ml/train';
import type { ChartInputs } from '../reports/charts';
import type { DistillationReport } from '../reports/distillation-markdown';
import { costRows } from '../reports/distillation-markdown';
import type { SpecialistsReport } from '../reports/specialists-markdown';
import { combinationCostRows, table4Rows } from '../reports/specialists-markdown';
import { tradeoffPoints } from '../reports/compression';
import type { ArtifactStore } from '../storage/artifact-store';
import { getJson } from '../storage/artifact-store';
import { readManifest } from './models';

export { renderDistillationReport } from '../reports/distillation-markdown';
export { renderSpecialistsReport } from '../reports/specialists-markdown';
export type { DistillBackOutcome, SpecialistsReport, TrainingOutcome } from '../reports/specialists-markdown';
export type {
  DistillationReport,
  EnsembleOutcome,
  ExportedModel,
  ModelOutcome,
  NotEvaluatedTeacher,
  QuantizedExport,
} from '../reports/distillation-markdown';

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

/**
 * Training curves (from model manifests), confusion matrices (from stored evaluations), the T sweep, and test
 * error against latency for the models whose cost was measured.
 */
export async function distillationChartInputs(store: ArtifactStore, r: DistillationReport): Promise<ChartInputs> {
  // An imported teacher has no manifest here, and no training history.
  const curves = await trainingCurves(
    store,
    r.models.filter((m) => !m.imported),
  );
  const confusions: NonNullable<ChartInputs['confusions']> = [];
  for (const m of r.models) {
    const details = await getJson<{ confusion: number[][]; classNames: string[] }>(store, m.evaluation.details);
    confusions.push({ model: m.name, classNames: details.classNames, matrix: details.confusion });
  }
  const students = r.models.filter((m) => m.role === 'student' && m.temperature !== undefined);
  const baseline = r.models.find((m) => m.role === 'baseline');
  const tradeoff = tradeoffPoints(costRows(r));
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
    ...(tradeoff.length > 0 ? { tradeoff } : {}),
  };
}

/**
 * Training curves (generalist and specialists), both confusion matrices, the subsets, Table 4, and test error
 * against latency for the generalist, the combination and the distilled-back students whose cost was measured.
 */
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
  const tradeoff = tradeoffPoints(combinationCostRows(r));
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
    ...(tradeoff.length > 0 ? { tradeoff } : {}),
  };
}
