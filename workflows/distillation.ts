/**
 * distillationPipeline: validate → prepare data → (cached soft targets | teachers in parallel → soft
 * targets) → baseline + distilled students in parallel → evaluate → export → report.
 * Deterministic orchestration only; every byte of data moves through the artifact store.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { PipelineActivities } from '../activities/pipeline';
import type { EnsembleOutcome, ExportedModel, ModelOutcome, QuantizedExport } from '../reports/distillation-markdown';
import type {
  EvaluationSummary,
  MeasureResult,
  ModelRef,
  ScoredImportKind,
  SoftTargetsRef,
  TrainRequest,
  TrainResult,
} from '../contracts/exchange';
import { keys } from '../common/store-keys';
import { trainingSeed } from '../common/seeds';
import { chooseExport } from '../common/export-choice';
import { sumCosts } from '../common/model-cost';
import { softTargetStorage } from '../common/soft-target-format';
import type { DistillationConfig } from '../config/schemas';
import type { ImportedTeacherRef } from '../activities/teacher-import';
import type { PipelineInput } from '../config/resolve';
import { LIGHT_ACTIVITY_OPTIONS, describeMeasure } from './options';
import { startPipeline } from './prologue';
import { teacherStage, trainModel } from './teacher-stage';
import type { NotEvaluated, PipelineRun, ToEvaluate } from './teacher-stage';

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
  const startedAt = new Date(Date.now());
  const light = proxyActivities<PipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const started = await startPipeline(input, (raw) => light.validateDistillationInput(raw));
  const { computeOptions, progress } = started;
  const compute = proxyActivities<ComputeActivities>(computeOptions);
  const data = await progress.stage('prepare-data', () =>
    compute.prepareData.executeWithOptions(
      { ...computeOptions, summary: `prepare ${started.cfg.data.dataset}: validation split, transfer set` },
      [{ data: started.cfg.data, transfer: started.cfg.transfer, seed: started.cfg.seed }],
    ),
  );
  const cfg = await withImportedStudent({ cfg: started.cfg, data, progress, compute, computeOptions });
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
  const chosen = measured ? await exportChosen(run, models, toEvaluate) : await exportBest(run, models, toEvaluate);
  const quantized = chosen && measured ? await quantizedExports(run, toEvaluate, chosen.model) : [];
  const exported = chosen && (quantized.length > 0 ? { ...chosen, quantized } : chosen);
  const measurement = measured ? await measureAll(run, toEvaluate) : undefined;
  measurement?.costs.forEach(({ name, cost }) => {
    const m = models.find((x) => x.name === name);
    if (m) m.cost = cost;
  });
  const ensemble = ensembleEval && ensembleOutcome(run.cfg, teacherModels, ensembleEval, models);
  const notEvaluated = teachers.notEvaluated ?? [];

  const workflowId = workflowInfo().workflowId;
  const finishedAt = new Date(Date.now());
  const softTargets = { key: teachers.soft.key, cacheHit: teachers.cacheHit };
  const report = await progress.stage('report', () =>
    light.writeReport({
      workflowId,
      pipeline: 'distillationPipeline',
      config: cfg,
      softTargets: {
        ...softTargets,
        inferenceSeconds: teachers.cacheHit ? 0 : (teachers.soft.inferenceSeconds ?? 0),
        storage: softTargetStorage(teachers.soft),
      },
      models,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      ...(exported ? { exported } : {}),
      ...(ensemble ? { ensemble } : {}),
      ...(measurement ? { machine: measurement.machine, classNames: data.classNames } : {}),
      ...(data.warnings && data.warnings.length > 0 ? { dataWarnings: data.warnings } : {}),
      ...(data.ignored && data.ignored.length > 0 ? { dataIgnored: data.ignored } : {}),
      ...(notEvaluated.length > 0 ? { notEvaluated } : {}),
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

/**
 * The config with a layers student's topology fetched, checked against the data and stored (its spec then carries
 * the sha256 that names it), before any teacher trains. Only layers configs take this branch, and no history
 * recorded before it has one, so every earlier history replays unchanged.
 */
async function withImportedStudent(
  run: Pick<PipelineRun, 'cfg' | 'data' | 'progress' | 'compute' | 'computeOptions'>,
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

/** Every model on the test set; with a class-omitting transfer set, students also get the bias-shift search. */
function evaluateAll(run: PipelineRun, models: ToEvaluate[]): Promise<EvaluationSummary[]> {
  const t = run.cfg.transfer;
  const biasClasses = t.kind === 'excludeClasses' || t.kind === 'onlyClasses' ? t.classes : undefined;
  return run.progress.stage('evaluate', () =>
    Promise.all(
      models.map((m) => {
        const bias = biasClasses && m.role !== 'teacher' ? { biasClasses } : {};
        const search = 'biasClasses' in bias ? ', with the bias-shift search' : '';
        const summary = `evaluate ${m.name} on the test set${search}`;
        return run.compute.evaluateModel.executeWithOptions({ ...run.computeOptions, summary }, [
          { name: m.name, ...scoredOf(m), data: run.data, ...bias },
        ]);
      }),
    ),
  );
}

/** What evaluateModel is asked to score: the ModelRef, or the imported teacher's ref. */
function scoredOf(m: ToEvaluate): { model: ModelRef } | { imported: ImportedTeacherRef } {
  return 'model' in m ? { model: m.model } : { imported: m.imported };
}

function modelOutcome(m: ToEvaluate, evaluation: EvaluationSummary): ModelOutcome {
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

/** The teacher ensemble as one model, scored by the rule the students learn from. */
function evaluateEnsemble(run: PipelineRun, teachers: ToEvaluate[]): Promise<EvaluationSummary> {
  const summary = `evaluate the ensemble of ${teachers.length} teachers (${run.cfg.ensemble} mean) on the test set`;
  const models = teachers.flatMap((t) => ('model' in t ? [t.model] : []));
  const imported = teachers.flatMap((t) => ('imported' in t ? [t.imported] : []));
  return run.compute.evaluateEnsemble.executeWithOptions({ ...run.computeOptions, summary }, [
    {
      name: 'teacher-ensemble',
      models,
      ...(imported.length > 0 ? { imported } : {}),
      rule: run.cfg.ensemble,
      data: run.data,
    },
  ]);
}

function ensembleOutcome(
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

/**
 * Size and speed of every model trained or given here, one after another in one activity so they do not slow each
 * other. Imported teachers are not measured: their exports are not ours to measure alike (the report says so).
 */
function measureAll(run: PipelineRun, evaluated: ToEvaluate[]): Promise<MeasureResult> {
  const models = evaluated.flatMap((m) => ('model' in m ? [{ name: m.name, model: m.model }] : []));
  const summary = describeMeasure(models.length);
  return run.progress.stage('measure', () =>
    run.compute.measureModels.executeWithOptions({ ...run.computeOptions, summary }, [
      { models, classNames: run.data.classNames },
    ]),
  );
}

/** The ModelRef of a model trained here (exports are only of those). */
function modelNamed(evaluated: ToEvaluate[], name: string): ModelRef {
  const m = evaluated.find((x) => x.name === name);
  if (!m || !('model' in m)) throw new TypeError(`no trained model named ${name}`);
  return m.model;
}

/** The deployable artifact: the student chosen on validation, in the standard tfjs layers format. */
async function exportChosen(
  run: PipelineRun,
  models: ModelOutcome[],
  evaluated: ToEvaluate[],
): Promise<DistillationSummary['exported']> {
  const chosen = chooseExport(models);
  if (!chosen) return undefined;
  const { best, chosenBy } = chosen;
  const files = await exportNamed(run, evaluated, best.name, chosenBy.split(' (')[0]!);
  return { model: best.name, ...files, chosenBy };
}

function exportNamed(run: PipelineRun, evaluated: ToEvaluate[], name: string, why: string) {
  const summary = `export ${name} (${why}) in the TensorFlow.js layers format`;
  return run.compute.exportModel.executeWithOptions({ ...run.computeOptions, summary }, [
    { model: modelNamed(evaluated, name), classNames: run.data.classNames },
  ]);
}

/** The chosen student again with quantised weights (config `export.quantize`), each scored on the test set. */
function quantizedExports(run: PipelineRun, evaluated: ToEvaluate[], name: string): Promise<QuantizedExport[]> {
  const model = modelNamed(evaluated, name);
  const { computeOptions: options, compute, data } = run;
  return Promise.all(
    (run.cfg.export?.quantize ?? []).map(async (quantize) => {
      const summary = `export ${name} with ${quantize} weights`;
      const files = await compute.exportModel.executeWithOptions({ ...options, summary }, [
        { model, classNames: data.classNames, quantize },
      ]);
      const score = `evaluate the ${quantize} export of ${name} on the test set`;
      const e = await compute.evaluateExport.executeWithOptions({ ...options, summary: score }, [
        { name: `${name}-${quantize}`, modelJson: files.modelJson, data },
      ]);
      return { quantize, ...files, errors: e.errors, n: e.n };
    }),
  );
}

/** Runs recorded before the compression report: the distilled student with the fewest test errors. */
async function exportBest(
  run: PipelineRun,
  models: ModelOutcome[],
  evaluated: ToEvaluate[],
): Promise<DistillationSummary['exported']> {
  const best = models.filter((m) => m.role === 'student').sort((a, b) => a.evaluation.errors - b.evaluation.errors)[0];
  if (!best) return undefined;
  return { model: best.name, ...(await exportNamed(run, evaluated, best.name, 'best student')) };
}
