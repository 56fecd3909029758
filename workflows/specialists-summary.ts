/**
 * What the specialists pipeline writes and returns: the report the pipeline activity renders from the stages'
 * results, and the run's summary. Plain data: workflow code.
 */
import { workflowInfo } from '@temporalio/workflow';
import type {
  ClusterResult,
  CombinationEvaluation,
  SpecialistRequest,
  SpecialistResult,
} from '../contracts/specialists';
import type { SpecialistsReport, TrainingOutcome } from '../reports/specialists-markdown';
import type { MeasureResult, ModelRef, StoredReport } from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';
import type { SpecialistsSummary } from './specialists';
import { trainingOutcome } from './specialists-stages';
import type { SpecialistsRun } from './specialists-stages';

/** What the stages produced, for the report. */
export interface StageResults {
  generalist: { model: ModelRef; training?: TrainingOutcome };
  clusters: ClusterResult;
  specialistReqs: SpecialistRequest[];
  specialistResults: SpecialistResult[];
  evaluation: CombinationEvaluation;
  measured: MeasureResult | undefined;
}

export function specialistsReport(
  { cfg, data }: SpecialistsRun,
  { generalist, clusters, specialistReqs, specialistResults, evaluation, measured }: StageResults,
  tail: Pick<SpecialistsReport, 'distillBack' | 'exported' | 'startedAt' | 'finishedAt' | 'wallSeconds'>,
): SpecialistsReport {
  return {
    workflowId: workflowInfo().workflowId,
    pipeline: 'specialistsPipeline',
    config: cfg,
    dataset: data.dataset,
    classNames: data.classNames,
    generalist: {
      manifestKey: generalist.model.manifest.key,
      digest: generalist.model.digest,
      given: 'ref' in cfg.generalist,
      ...(generalist.training ? { training: generalist.training } : {}),
      ...costOf(measured, 'generalist'),
    },
    clustering: {
      key: clusters.key,
      cached: clusters.cached,
      subsets: clusters.subsets,
      examples: clusters.examples,
      covariance: clusters.covariance,
      skipped: clusters.subsets.filter((s) => s.length < cfg.clustering.minClasses),
    },
    specialists: specialistResults.map((s, m) => ({
      name: s.name,
      subset: s.subset,
      manifestKey: s.model.manifest.key,
      digest: s.model.digest,
      sampling: s.sampling,
      training: trainingOutcome(s, specialistReqs[m]!.train.epochs),
      ...costOf(measured, s.name),
    })),
    evaluation,
    ...(measured ? { machine: measured.machine } : {}),
    ...tail,
  };
}

function costOf(measured: MeasureResult | undefined, name: string): { cost?: ModelCost } {
  const cost = measured?.costs.find((c) => c.name === name)?.cost;
  return cost ? { cost } : {};
}

export function summarize(
  report: SpecialistsReport,
  written: StoredReport,
  generalistTraining: TrainingOutcome | undefined,
  specialists: SpecialistResult[],
): SpecialistsSummary {
  const { evaluation, clustering, distillBack, exported } = report;
  return {
    workflowId: report.workflowId,
    report: written,
    ...(exported ? { exported } : {}),
    generalist: {
      errors: evaluation.generalist.errors,
      accuracy: evaluation.generalist.accuracy,
      manifestKey: report.generalist.manifestKey,
      cached: generalistTraining?.cached ?? true,
    },
    combined: {
      errors: evaluation.combined.errors,
      accuracy: evaluation.combined.accuracy,
      relativeErrorChange: evaluation.relativeErrorChange,
    },
    subsets: clustering.subsets,
    specialists: specialists.map((s) => ({
      name: s.name,
      subset: s.subset,
      manifestKey: s.model.manifest.key,
      correctionFactor: s.sampling.correctionFactor,
      cached: s.cached,
    })),
    byCoverage: evaluation.byCoverage.map((r) => ({
      specialists: r.specialists,
      examples: r.examples,
      delta: r.delta,
      relativeChange: r.relativeChange,
    })),
    ...(distillBack
      ? {
          distillBack: {
            workflowId: distillBack.childWorkflowId,
            softTargetsKey: distillBack.softTargets.key,
            models: distillBack.models.map(({ manifestKey: _k, ...m }) => m),
          },
        }
      : {}),
  };
}
