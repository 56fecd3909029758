/**
 * The specialists run report's chart inputs from the store. The document and its Markdown live in
 * reports/specialists-markdown.ts; they are re-exported here for the workflow and the pipeline activities that
 * import them from this module.
 */
import type { ArtifactStore } from '../storage/artifact-store';
import { getJson } from '../storage/artifact-store';
import type { ChartInputs } from '../reports/charts';
import { combinationCostRows, table4Rows } from '../reports/specialists-markdown';
import { tradeoffPoints } from '../reports/compression';
import type { SpecialistsReport } from '../reports/specialists-markdown';
import { trainingCurves } from './report';

export { renderSpecialistsReport } from '../reports/specialists-markdown';
export type { DistillBackOutcome, SpecialistsReport, TrainingOutcome } from '../reports/specialists-markdown';

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
