/**
 * distillationPipeline: validate → prepare data → (cached soft targets | teachers in parallel → soft
 * targets) → baseline + distilled students in parallel → evaluate → export → report.
 * Deterministic orchestration only; every byte of data moves through the artifact store.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { PipelineActivities } from '../activities/pipeline';
import type { ModelOutcome } from '../activities/report';
import type { EvaluationSummary, SoftTargetsRef, TrainRequest, TrainResult } from '../activities/types';
import type { PipelineInput } from '../config/resolve';
import { LIGHT_ACTIVITY_OPTIONS } from './options';
import { startPipeline } from './prologue';
import { teacherStage, trainModel } from './teacher-stage';
import type { Run, ToEvaluate } from './teacher-stage';

export type DistillationInput = PipelineInput;

export interface DistillationSummary {
  workflowId: string;
  report: { json: string; markdown: string; html: string; charts: string[] };
  /** The best distilled student in tfjs layers format (model.json + weights) in the store. */
  exported?: { model: string; modelJson: string; weights: string };
  softTargets: { key: string; cacheHit: boolean };
  models: { name: string; role: string; errors: number; accuracy: number; manifestKey: string; cached: boolean }[];
  /** What the data split left that the user may not expect (e.g. a small transfer set). */
  warnings?: string[];
}

type StudentRequest = TrainRequest & { temperature?: number; alpha?: number };

export async function distillationPipeline(input: DistillationInput): Promise<DistillationSummary> {
  const startedAt = new Date(Date.now());
  const light = proxyActivities<PipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const { cfg, computeOptions, progress } = await startPipeline(input, (raw) => light.validateDistillationInput(raw));
  const compute = proxyActivities<ComputeActivities>(computeOptions);
  const data = await progress.stage('prepare-data', () =>
    compute.prepareData.executeWithOptions(
      { ...computeOptions, summary: `prepare ${cfg.data.dataset}: validation split, transfer set` },
      [{ data: cfg.data, transfer: cfg.transfer, seed: cfg.seed }],
    ),
  );
  const run: Run = { cfg, data, progress, light, compute, computeOptions };

  const teachers = await teacherStage(run);
  const studentReqs = studentRequests(run, teachers.soft);
  studentReqs.forEach((r) => progress.model(r.name, r.role, r.train.epochs));
  const studentResults = await progress.stage('students', () =>
    Promise.all(studentReqs.map(({ temperature: _t, alpha: _a, ...r }) => trainModel(run, r))),
  );
  const toEvaluate = [...teachers.toEvaluate, ...studentsToEvaluate(studentReqs, studentResults)];
  const evaluations = await evaluateAll(run, toEvaluate);
  const models = toEvaluate.map((m, i) => modelOutcome(m, evaluations[i]!));
  const exported = await exportBest(run, models, toEvaluate);

  const workflowId = workflowInfo().workflowId;
  const finishedAt = new Date(Date.now());
  const softTargets = { key: teachers.soft.key, cacheHit: teachers.cacheHit };
  const report = await progress.stage('report', () =>
    light.writeReport({
      workflowId,
      pipeline: 'distillationPipeline',
      config: cfg,
      softTargets: { ...softTargets, inferenceSeconds: teachers.cacheHit ? 0 : (teachers.soft.inferenceSeconds ?? 0) },
      models,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      ...(exported ? { exported } : {}),
      ...(data.warnings && data.warnings.length > 0 ? { dataWarnings: data.warnings } : {}),
    }),
  );
  return {
    workflowId,
    report,
    ...(exported ? { exported } : {}),
    softTargets,
    models: models.map((m) => ({
      name: m.name,
      role: m.role,
      errors: m.evaluation.errors,
      accuracy: m.evaluation.accuracy,
      manifestKey: m.manifestKey,
      cached: m.training?.cached ?? true,
    })),
    ...(data.warnings && data.warnings.length > 0 ? { warnings: data.warnings } : {}),
  };
}

/** The hard-label baseline and one distilled student per (T, α), all with the same seed. */
function studentRequests({ cfg, data }: Run, soft: SoftTargetsRef): StudentRequest[] {
  const common = { data, split: 'transfer' as const, spec: cfg.student.model, train: cfg.student.train };
  const seed = cfg.seed * 1000 + 7;
  return [
    { name: 'baseline-hard', role: 'baseline', ...common, seed },
    ...cfg.students.map((v) => ({
      name: `student-T${v.temperature}-a${v.alpha}`,
      role: 'student' as const,
      ...common,
      seed,
      distill: { softTargets: soft, temperature: v.temperature, alpha: v.alpha, ensemble: cfg.ensemble },
      temperature: v.temperature,
      alpha: v.alpha,
    })),
  ];
}

function studentsToEvaluate(reqs: StudentRequest[], results: TrainResult[]): ToEvaluate[] {
  return reqs.map((r, i) => ({
    name: r.name,
    role: r.role,
    model: results[i]!.model,
    training: results[i]!,
    epochs: r.train.epochs,
    ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.alpha !== undefined ? { alpha: r.alpha } : {}),
  }));
}

/** Every model on the test set; with a class-omitting transfer set, students also get the bias-shift search. */
function evaluateAll(run: Run, models: ToEvaluate[]): Promise<EvaluationSummary[]> {
  const t = run.cfg.transfer;
  const biasClasses = t.kind === 'excludeClasses' || t.kind === 'onlyClasses' ? t.classes : undefined;
  return run.progress.stage('evaluate', () =>
    Promise.all(
      models.map((m) => {
        const bias = biasClasses && m.role !== 'teacher' ? { biasClasses } : {};
        const search = 'biasClasses' in bias ? ', with the bias-shift search' : '';
        const summary = `evaluate ${m.name} on the test set${search}`;
        return run.compute.evaluateModel.executeWithOptions({ ...run.computeOptions, summary }, [
          { name: m.name, model: m.model, data: run.data, ...bias },
        ]);
      }),
    ),
  );
}

function modelOutcome(m: ToEvaluate, evaluation: EvaluationSummary): ModelOutcome {
  const t = m.training;
  return {
    name: m.name,
    role: m.role,
    evaluation,
    manifestKey: m.model.manifest.key,
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
            epochs: m.epochs ?? 0,
            loopSeconds: t.history.filter((h) => h.epoch > t.resumedFromEpoch).reduce((a, h) => a + h.seconds, 0),
          },
        }
      : {}),
  };
}

/** The deployable artifact: the best distilled student, in the standard tfjs layers format. */
async function exportBest(
  run: Run,
  models: ModelOutcome[],
  evaluated: ToEvaluate[],
): Promise<DistillationSummary['exported']> {
  const best = models.filter((m) => m.role === 'student').sort((a, b) => a.evaluation.errors - b.evaluation.errors)[0];
  if (!best) return undefined;
  const summary = `export ${best.name} (best student) in the TensorFlow.js layers format`;
  const files = await run.compute.exportModel.executeWithOptions({ ...run.computeOptions, summary }, [
    { model: evaluated.find((m) => m.name === best.name)!.model, classNames: run.data.classNames },
  ]);
  return { model: best.name, ...files };
}
