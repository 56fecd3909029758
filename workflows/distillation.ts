/**
 * distillationPipeline: validate → prepare data → (cached soft targets | teachers in parallel → soft
 * targets) → baseline + distilled students in parallel → evaluate → export → report.
 * Deterministic orchestration only; every byte of data moves through the artifact store.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/pipeline';
import type { ExportedModel } from '../reports/distillation-markdown';
import type { ModelRef, ScoredImportKind, SoftTargetsRef, TrainRequest, TrainResult } from '../contracts/exchange';
import { trainingSeed } from '../common/seeds';
import type { DistillationConfig } from '../config/schemas';
import type { PipelineInput } from '../config/resolve';
import { LIGHT_ACTIVITY_OPTIONS } from './options';
import { openPipeline, runTimes } from './prologue';
import type { OpenedPipeline } from './prologue';
import { teacherStage, trainModel } from './teacher-stage';
import type { NotEvaluated, PipelineRun, ToEvaluate } from './teacher-stage';
import { evaluateAll, evaluateEnsemble, exportStage, measureAll } from './distillation-stages';
import {
  distillationReport,
  distillationSummary,
  ensembleOutcome,
  modelOutcome,
  withCosts,
} from './distillation-report';

export type DistillationInput = PipelineInput;

export interface DistillationSummary {
  workflowId: string;
  report: { json: string; markdown: string; html: string; charts: string[] };
  /** The student chosen on validation, in tfjs layers format (model.json + weights) in the store. */
  exported?: ExportedModel;
  softTargets: { key: string; cacheHit: boolean };
  models: {
    name: string;
    role: string;
    errors: number;
    accuracy: number;
    /** Errors on the validation split, where choices are made (absent without one). */
    validationErrors?: number;
    /** The model's manifest; for an imported teacher, its import.json. */
    manifestKey: string;
    cached: boolean;
    /** An imported teacher's kind (absent for models trained or given here). */
    imported?: ScoredImportKind;
  }[];
  /** The teacher ensemble's own test errors (two or more scored teachers). */
  ensemble?: { errors: number; accuracy: number };
  /** Teachers that could not be scored on the test set (an imported `.npy`), and why. */
  notEvaluated?: NotEvaluated[];
  /** What the data split left that the user may not expect (e.g. a small transfer set). */
  warnings?: string[];
}

type StudentRequest = TrainRequest & { temperature?: number; alpha?: number };

export async function distillationPipeline(input: DistillationInput): Promise<DistillationSummary> {
  const light = proxyActivities<PipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const validate = (raw: unknown) => light.validateDistillationInput(raw);
  const opened = await openPipeline(input, validate, (c) => ({ transfer: c.transfer }));
  const { data, progress, compute, computeOptions } = opened;
  const cfg = await withImportedStudent(opened);
  const run: PipelineRun = { cfg, data, progress, light, compute, computeOptions };

  const teachers = await teacherStage(run);
  const studentReqs = studentRequests(
    run,
    teachers.soft,
    // Online students run the models trained here or given; imported teachers are refused for them at validation.
    teachers.toEvaluate.flatMap((t) => ('model' in t ? [t.model] : [])),
  );
  studentReqs.forEach((r) => progress.model(r.name, r.role, r.train.epochs));
  const studentResults = await progress.stage('students', () =>
    Promise.all(studentReqs.map(({ temperature: _t, alpha: _a, ...r }) => trainModel(run, r))),
  );
  const toEvaluate = [...teachers.toEvaluate, ...studentsToEvaluate(studentReqs, studentResults)];
  // Runs started before the compression report go on as they were recorded: no ensemble, no costs.
  const measured = patched('compression-report');
  const teacherModels = teachers.toEvaluate;
  const [evaluations, ensembleEval] = await Promise.all([
    evaluateAll(run, toEvaluate),
    measured && teacherModels.length > 1 ? evaluateEnsemble(run, teacherModels) : undefined,
  ]);
  const models = toEvaluate.map((m, i) => modelOutcome(m, evaluations[i]!));
  const exported = await exportStage(run, models, toEvaluate, measured);
  const measurement = measured ? await measureAll(run, toEvaluate) : undefined;
  withCosts(models, measurement);
  const ensemble = ensembleEval && ensembleOutcome(run.cfg, teacherModels, ensembleEval, models);

  const workflowId = workflowInfo().workflowId;
  const outcome = { workflowId, cfg, data, teachers, models, exported, ensemble, measurement };
  const report = distillationReport(outcome, runTimes(opened.startedAt));
  const written = await progress.stage('report', () => light.writeReport(report));
  return distillationSummary(outcome, written);
}

/**
 * The config with a layers student's topology fetched, checked against the data and stored (its spec then carries
 * the sha256 that names it), before any teacher trains. Only layers configs take this branch, and no history
 * recorded before it has one, so every earlier history replays unchanged.
 */
async function withImportedStudent(
  run: Pick<OpenedPipeline<DistillationConfig>, 'cfg' | 'data' | 'progress' | 'compute' | 'computeOptions'>,
): Promise<DistillationConfig> {
  const { cfg } = run;
  const model = cfg.student.model;
  if (model.kind !== 'layers') return cfg;
  const summary = `import the student topology ${model.topology.split('?')[0]}: check it against the data, store it`;
  const imported = await run.progress.stage('import-student', () =>
    run.compute.importStudent.executeWithOptions({ ...run.computeOptions, summary }, [
      { spec: model, data: run.data, batchSize: cfg.student.train.batchSize },
    ]),
  );
  return { ...cfg, student: { ...cfg.student, model: imported.spec } };
}

/** The hard-label baseline and one distilled student per (T, α[, online]), all with the same seed. */
function studentRequests({ cfg, data }: PipelineRun, soft: SoftTargetsRef, teachers: ModelRef[]): StudentRequest[] {
  const common = { data, split: 'transfer' as const, spec: cfg.student.model, train: cfg.student.train };
  const seed = trainingSeed(cfg.seed, 'student');
  return [
    { name: 'baseline-hard', role: 'baseline', ...common, seed },
    ...cfg.students.map((v) => ({
      name: `student-T${v.temperature}-a${v.alpha}${v.online ? '-online' : ''}`,
      role: 'student' as const,
      ...common,
      seed,
      distill: {
        softTargets: soft,
        temperature: v.temperature,
        alpha: v.alpha,
        ensemble: cfg.ensemble,
        // Only online students carry it: the requests (and histories) of the others are as before.
        ...(v.online ? { online: { teachers } } : {}),
      },
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
