/** Pipeline-queue activities of the specialists pipeline: input validation, a given generalist, the report. */
import { decodeTensors } from '../storage/tensor-codec';
import { resolveSpecialistsInput } from '../config/specialists';
import type { SpecialistsConfig } from '../config/specialists';
import { modelAt } from '../artifacts/models';
import { bindActivities, invalidInput } from './failures';
import { dataKeys, requireExisting } from '../artifacts/input-keys';
import { orFail } from './pipeline';
import type { PipelineDeps } from './pipeline';
import type { ValidatedInput } from '../contracts/exchange';
import { storeReport } from '../artifacts/report-files';
import type { StoredReport } from '../contracts/exchange';
import { renderSpecialistsReport, specialistsChartInputs } from '../artifacts/report-inputs';
import type { SpecialistsReport } from '../artifacts/report-inputs';
import type { DataPlanRef, ModelRef } from '../contracts/exchange';

/** The whole workflow input, options included, exactly as the workflow was started with it. */
async function validateSpecialistsInput(deps: PipelineDeps, raw: unknown): Promise<ValidatedInput<SpecialistsConfig>> {
  const v = orFail(resolveSpecialistsInput(raw, { limits: deps.limits }));
  const g = v.config.generalist;
  await requireExisting(deps.store, [
    ...dataKeys(v.config.data),
    ...('ref' in g ? [{ path: 'generalist.ref.manifestKey', key: g.ref.manifestKey }] : []),
  ]);
  return v;
}

/** A given generalist: a published model for this dataset's classes and image size. */
async function resolveGeneralist(
  { store }: PipelineDeps,
  req: { manifestKey: string; data: DataPlanRef },
): Promise<ModelRef> {
  const model = await modelAt(store, req.manifestKey);
  if (!model) throw invalidInput(`generalist.ref.manifestKey: not found: no model manifest at "${req.manifestKey}"`);
  if (model.numClasses !== req.data.numClasses)
    throw invalidInput(
      `generalist.ref.manifestKey: the model has ${model.numClasses} outputs, ` +
        `${req.data.dataset} has ${req.data.numClasses} classes`,
    );
  return model;
}

/** The report as JSON, Markdown and HTML with charts; the covariance matrix is read from the store here. */
async function writeSpecialistsReport({ store }: PipelineDeps, report: SpecialistsReport): Promise<StoredReport> {
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

/** The specialists pipeline's pipeline-queue activities, each wrapped so its typed errors reach Temporal named. */
export function createSpecialistsPipelineActivities(deps: PipelineDeps) {
  return bindActivities(deps, { validateSpecialistsInput, resolveGeneralist, writeSpecialistsReport });
}

export type SpecialistsPipelineActivities = ReturnType<typeof createSpecialistsPipelineActivities>;
