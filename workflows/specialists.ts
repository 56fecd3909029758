/**
 * specialistsPipeline (paper §5): validate → prepare data → generalist (trained or given) → cluster
 * its confusions → one specialist per confusable subset, in parallel → KL-minimising combination on
 * the test set → export → report; optionally distil the combination back into one net through a
 * child distillationPipeline fed the combination's log q as stored soft targets.
 * Deterministic orchestration only; every byte of data moves through the artifact store.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { SpecialistsComputeActivities } from '../activities/specialists';
import type { SpecialistsPipelineActivities } from '../activities/specialists-pipeline';
import type { CombinationRequest } from '../contracts/specialists';
import type { StoredReport } from '../contracts/exchange';
import type { PipelineInput } from '../config/resolve';
import { LIGHT_ACTIVITY_OPTIONS } from './options';
import { openPipeline, runTimes } from './prologue';
import {
  clusterStage,
  combineStage,
  distillBackStage,
  exportStage,
  generalistStage,
  measureStage,
  specialistRequests,
  specialistsStage,
  transferOf,
} from './specialists-stages';
import type { SpecialistsRun } from './specialists-stages';
import { specialistsReport, summarize } from './specialists-summary';

export type SpecialistsInput = PipelineInput;

export interface SpecialistsSummary {
  workflowId: string;
  report: StoredReport;
  /**
   * The generalist + specialists package: layers models, combination.json and loader.mjs (absent for
   * runs started before it existed).
   */
  exported?: { dir: string; manifest: string };
  generalist: { errors: number; accuracy: number; manifestKey: string; cached: boolean };
  combined: { errors: number; accuracy: number; relativeErrorChange: number };
  subsets: number[][];
  specialists: { name: string; subset: number[]; manifestKey: string; correctionFactor: number; cached: boolean }[];
  /** Test examples by number of active specialists (the paper's Table 4). */
  byCoverage: { specialists: number; examples: number; delta: number; relativeChange: number }[];
  distillBack?: {
    workflowId: string;
    softTargetsKey: string;
    models: { name: string; role: string; errors: number; accuracy: number; cached: boolean }[];
  };
}

export async function specialistsPipeline(input: SpecialistsInput): Promise<SpecialistsSummary> {
  const light = proxyActivities<SpecialistsPipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const validate = (raw: unknown) => light.validateSpecialistsInput(raw);
  const { startedAt, ...opened } = await openPipeline(input, validate, (c) => ({
    transfer: transferOf(c),
    transferField: 'distill.transfer',
  }));
  const { cfg, data, computeOptions, progress } = opened;
  const special = proxyActivities<SpecialistsComputeActivities>(computeOptions);
  const run: SpecialistsRun = { ...opened, light, special };

  const generalist = await generalistStage(run);
  const clusters = await clusterStage(run, generalist.model);
  const specialistReqs = specialistRequests(run, generalist.model, clusters);
  const specialistResults = await specialistsStage(run, specialistReqs);
  const combination: CombinationRequest = {
    data,
    generalist: generalist.model,
    specialists: specialistResults.map((s) => ({ name: s.name, model: s.model, subset: s.subset })),
    combine: cfg.combine,
  };
  const evaluation = await combineStage(run, combination);
  const exported = await exportStage(run, combination, evaluation);
  const distillBack = cfg.distill ? await distillBackStage(run, combination) : undefined;
  // Runs started before the compression report go on as they were recorded: no costs.
  const measured = patched('compression-report') ? await measureStage(run, combination) : undefined;

  const report = specialistsReport(
    run,
    { generalist, clusters, specialistReqs, specialistResults, evaluation, measured },
    {
      ...(distillBack ? { distillBack } : {}),
      ...(exported ? { exported: { dir: exported.dir, manifest: exported.manifest } } : {}),
      ...runTimes(startedAt),
    },
  );
  const written = await progress.stage('report', () => light.writeSpecialistsReport(report));
  return summarize(report, written, generalist.training, specialistResults);
}
