/**
 * The distillation run report's inputs from the store: training curves and confusion matrices. The document and its
 * Markdown live in reports/distillation-markdown.ts; they are re-exported here for the workflow and the pipeline
 * activities that import them from this module.
 */
import type { EpochStats } from '../ml/train';
import type { ChartInputs } from '../reports/charts';
import type { DistillationReport } from '../reports/distillation-markdown';
import { costRows } from '../reports/distillation-markdown';
import { tradeoffPoints } from '../reports/compression';
import type { ArtifactStore } from '../storage/artifact-store';
import { getJson } from '../storage/artifact-store';
import { readManifest } from './artifacts';

export { renderDistillationReport } from '../reports/distillation-markdown';
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
