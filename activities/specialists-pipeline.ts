/** Pipeline-queue activities of the specialists pipeline: input validation, a given generalist, the report. */
import { decodeTensors } from '../storage/tensor-codec';
import { resolveSpecialistsInput } from '../config/specialists';
import type { SpecialistsConfig } from '../config/specialists';
import { readManifest } from './artifacts';
import { invalidInput, withFailureTypes } from './failures';
import { dataKeys, orFail, requireExisting } from './pipeline';
import type { PipelineDeps, Validated } from './pipeline';
import { storeReport } from './report-files';
import type { StoredReport } from './report-files';
import { renderSpecialistsReport, specialistsChartInputs } from './specialists-report';
import type { SpecialistsReport } from './specialists-report';
import type { DataPlanRef, ModelRef } from './types';

export function createSpecialistsPipelineActivities(deps: PipelineDeps) {
  const { store } = deps;

  /** The whole workflow input, options included, exactly as the workflow was started with it. */
  async function validateSpecialistsInput(raw: unknown): Promise<Validated<SpecialistsConfig>> {
    const v = orFail(resolveSpecialistsInput(raw, { limits: deps.limits }));
    const g = v.config.generalist;
    await requireExisting(deps.store, [
      ...dataKeys(v.config.data),
      ...('ref' in g ? [{ path: 'generalist.ref.manifestKey', key: g.ref.manifestKey }] : []),
    ]);
    return v;
  }

  /** A given generalist: a published model for this dataset's classes and image size. */
  async function resolveGeneralist(req: { manifestKey: string; data: DataPlanRef }): Promise<ModelRef> {
    const stat = await store.stat(req.manifestKey);
    if (!stat) throw invalidInput(`generalist.ref.manifestKey: not found: no model manifest at "${req.manifestKey}"`);
    const m = await readManifest(store, req.manifestKey);
    if (m.numClasses !== req.data.numClasses)
      throw invalidInput(
        `generalist.ref.manifestKey: the model has ${m.numClasses} outputs, ` +
          `${req.data.dataset} has ${req.data.numClasses} classes`,
      );
    return { digest: m.digest, manifest: stat, weights: m.weights, spec: m.spec, numClasses: m.numClasses };
  }

  /** The report as JSON, Markdown and HTML with charts; the covariance matrix is read from the store here. */
  async function writeSpecialistsReport(report: SpecialistsReport): Promise<StoredReport> {
    const full: SpecialistsReport = { ...report };
    const C = report.classNames.length;
    if (C <= 64 && !report.clustering.covarianceMatrix) {
      const t = decodeTensors(await store.get(report.clustering.covariance))['covariance']!;
      const data = t.data as Float32Array;
      full.clustering = {
        ...report.clustering,
        covarianceMatrix: Array.from({ length: C }, (_, r) => Array.from(data.subarray(r * C, r * C + C))),
      };
    }
    return storeReport(store, full, { markdown: renderSpecialistsReport, charts: specialistsChartInputs });
  }

  return withFailureTypes({ validateSpecialistsInput, resolveGeneralist, writeSpecialistsReport });
}

export type SpecialistsPipelineActivities = ReturnType<typeof createSpecialistsPipelineActivities>;
