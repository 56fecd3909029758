/**
 * What the distillation pipeline writes and returns: each model's outcome, the report the pipeline activity
 * renders, and the run's summary. Plain data: workflow code.
 */
import type {
  DistillationReport,
  EnsembleOutcome,
  ExportedModel,
  ModelOutcome,
} from '../reports/distillation-markdown';
import type { ImportedTeacherRef } from '../activities/teacher-import';
import type { EvaluationSummary, DataPlanRef, MeasureResult } from '../contracts/exchange';
import { keys } from '../common/store-keys';
import { sumCosts } from '../common/model-cost';
import { softTargetStorage } from '../common/soft-target-format';
import type { DistillationConfig } from '../config/schemas';
import type { DistillationSummary } from './distillation';
import type { NotEvaluated, TeacherStageResult, ToEvaluate } from './teacher-stage';

export function modelOutcome(m: ToEvaluate, evaluation: EvaluationSummary): ModelOutcome {
  const t = m.training;
  return {
    name: m.name,
    role: m.role,
    evaluation,
    manifestKey: 'model' in m ? m.model.manifest.key : keys.importManifest(m.imported.sha256),
    ...('imported' in m ? { imported: importedOutcome(m.imported) } : {}),
    ...(m.temperature !== undefined ? { temperature: m.temperature } : {}),
    ...(m.alpha !== undefined ? { alpha: m.alpha } : {}),
    ...(t
      ? {
          training: {
            cached: t.cached,
            resumedFromEpoch: t.resumedFromEpoch,
            epochsTrained: t.epochsTrained,
            seconds: t.seconds,
            backend: t.backend,
            backendFallback: t.backendFallback,
            ...(t.step ? { step: t.step } : {}),
            epochs: m.epochs ?? 0,
            loopSeconds: t.history.filter((h) => h.epoch > t.resumedFromEpoch).reduce((a, h) => a + h.seconds, 0),
          },
        }
      : {}),
  };
}

function importedOutcome(ref: ImportedTeacherRef): NonNullable<ModelOutcome['imported']> {
  return { kind: ref.kind === 'savedmodel' ? 'savedmodel' : 'tfjs', sha256: ref.sha256, field: ref.field };
}

export function ensembleOutcome(
  cfg: DistillationConfig,
  teachers: ToEvaluate[],
  evaluation: EvaluationSummary,
  models: ModelOutcome[],
): EnsembleOutcome {
  const costs = teachers.map((t) => models.find((m) => m.name === t.name)?.cost);
  const { errors, n, accuracy, perClassErrors } = evaluation;
  return {
    members: teachers.map((t) => t.name),
    rule: cfg.ensemble,
    evaluation: { errors, n, accuracy, perClassErrors },
    ...(costs.every((c) => c !== undefined) ? { cost: sumCosts(costs) } : {}),
  };
}

/** Each measured model's cost, on its outcome. */
export function withCosts(models: ModelOutcome[], measurement: MeasureResult | undefined): void {
  measurement?.costs.forEach(({ name, cost }) => {
    const m = models.find((x) => x.name === name);
    if (m) m.cost = cost;
  });
}

/** What the stages produced, for the report and the summary. */
export interface DistillationOutcome {
  workflowId: string;
  cfg: DistillationConfig;
  data: DataPlanRef;
  teachers: TeacherStageResult;
  models: ModelOutcome[];
  exported: ExportedModel | undefined;
  ensemble: EnsembleOutcome | undefined;
  measurement: MeasureResult | undefined;
}

export function distillationReport(
  o: DistillationOutcome,
  times: Pick<DistillationReport, 'startedAt' | 'finishedAt' | 'wallSeconds'>,
): DistillationReport {
  const { teachers, data, exported, ensemble, measurement } = o;
  const notEvaluated = notEvaluatedOf(o);
  return {
    workflowId: o.workflowId,
    pipeline: 'distillationPipeline',
    config: o.cfg,
    softTargets: {
      ...softTargetsOf(o),
      inferenceSeconds: teachers.cacheHit ? 0 : (teachers.soft.inferenceSeconds ?? 0),
      storage: softTargetStorage(teachers.soft),
    },
    models: o.models,
    ...times,
    ...(exported ? { exported } : {}),
    ...(ensemble ? { ensemble } : {}),
    ...(measurement ? { machine: measurement.machine, classNames: data.classNames } : {}),
    ...(data.warnings && data.warnings.length > 0 ? { dataWarnings: data.warnings } : {}),
    ...(data.ignored && data.ignored.length > 0 ? { dataIgnored: data.ignored } : {}),
    ...(notEvaluated.length > 0 ? { notEvaluated } : {}),
  };
}

export function distillationSummary(
  o: DistillationOutcome,
  report: DistillationSummary['report'],
): DistillationSummary {
  const { exported, ensemble, data } = o;
  const notEvaluated = notEvaluatedOf(o);
  return {
    workflowId: o.workflowId,
    report,
    ...(exported ? { exported } : {}),
    softTargets: softTargetsOf(o),
    models: o.models.map((m) => ({
      name: m.name,
      role: m.role,
      errors: m.evaluation.errors,
      accuracy: m.evaluation.accuracy,
      ...(m.evaluation.validation ? { validationErrors: m.evaluation.validation.errors } : {}),
      manifestKey: m.manifestKey,
      cached: m.training?.cached ?? true,
      ...(m.imported ? { imported: m.imported.kind } : {}),
    })),
    ...(ensemble ? { ensemble: { errors: ensemble.evaluation.errors, accuracy: ensemble.evaluation.accuracy } } : {}),
    ...(notEvaluated.length > 0 ? { notEvaluated } : {}),
    ...(data.warnings && data.warnings.length > 0 ? { warnings: data.warnings } : {}),
  };
}

function softTargetsOf({ teachers }: DistillationOutcome): DistillationSummary['softTargets'] {
  return { key: teachers.soft.key, cacheHit: teachers.cacheHit };
}

function notEvaluatedOf({ teachers }: DistillationOutcome): NotEvaluated[] {
  return teachers.notEvaluated ?? [];
}
