/**
 * distillationPipeline: validate → prepare data → (cached soft targets | teachers in parallel → soft
 * targets) → baseline + distilled students in parallel → evaluate → report.
 * Deterministic orchestration only; every byte of data moves through the artifact store.
 */
import { ApplicationFailure, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { PipelineActivities } from '../activities/pipeline';
import type { ModelOutcome } from '../activities/report';
import type { EvaluationSummary, ModelRef, SoftTargetsRef, TrainRequest, TrainResult } from '../activities/types';
import type { PipelineInput } from '../config/resolve';
import { LIGHT_ACTIVITY_OPTIONS, computeActivityOptions, describeTraining } from './options';
import type { RunOptions } from './options';
import { ProgressTracker, modelProgressSignal, progressQuery } from './progress';

export interface DistillationInput extends PipelineInput {
  options?: RunOptions;
}

export interface DistillationSummary {
  workflowId: string;
  report: { json: string; markdown: string; html: string; charts: string[] };
  /** The best distilled student in tfjs layers format (model.json + weights) in the store. */
  exported?: { model: string; modelJson: string; weights: string };
  softTargets: { key: string; cacheHit: boolean };
  models: { name: string; role: string; errors: number; accuracy: number; manifestKey: string; cached: boolean }[];
}

export async function distillationPipeline(input: DistillationInput): Promise<DistillationSummary> {
  const startedAt = new Date(Date.now());
  const opts = input.options ?? {};
  const light = proxyActivities<PipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const computeOptions = computeActivityOptions(opts);
  const compute = proxyActivities<ComputeActivities>(computeOptions);
  const progress = new ProgressTracker();
  setHandler(progressQuery, () => progress.snapshot());
  setHandler(modelProgressSignal, (u) => progress.update(u));
  const trainModel = (r: TrainRequest) =>
    progress.track(
      r.name,
      compute.trainModel.executeWithOptions({ ...computeOptions, summary: describeTraining(r) }, [r]),
    );

  const { overrides, preset, config } = input;
  const cfg = await progress.stage('validate', () =>
    light.validateDistillationInput({
      ...(preset !== undefined ? { preset } : {}),
      ...(overrides ? { overrides } : {}),
      ...(config ? { config } : {}),
    }),
  );
  const data = await progress.stage('prepare-data', () =>
    compute.prepareData.executeWithOptions(
      { ...computeOptions, summary: `prepare ${cfg.data.dataset}: validation split, transfer set` },
      [{ data: cfg.data, transfer: cfg.transfer, seed: cfg.seed }],
    ),
  );

  // Teachers: recipes (trained here unless cached) or given models.
  const teacherReqs: TrainRequest[] =
    'count' in cfg.teachers
      ? Array.from({ length: cfg.teachers.count }, (_, i) => ({
          name: `teacher-${i + 1}`,
          role: 'teacher' as const,
          data,
          split: 'train' as const,
          spec: (cfg.teachers as { model: TrainRequest['spec'] }).model,
          train: (cfg.teachers as { train: TrainRequest['train'] }).train,
          seed: cfg.seed * 1000 + 101 + i,
        }))
      : [];
  const givenTeachers: ModelRef[] = 'refs' in cfg.teachers ? await light.resolveModelRefs(cfg.teachers.refs) : [];
  const givenSoftTargets = 'softTargets' in cfg.teachers ? cfg.teachers.softTargets.key : undefined;
  const lookup = await progress.stage('soft-target-cache', () =>
    light.lookupSoftTargets({
      teachers:
        givenTeachers.length > 0 ? givenTeachers : teacherReqs.map(({ name: _n, role: _r, ...recipe }) => recipe),
      planDigest: data.planDigest,
      ...(givenSoftTargets !== undefined ? { key: givenSoftTargets } : {}),
    }),
  );
  if (givenSoftTargets !== undefined && !lookup.found) {
    throw ApplicationFailure.create({
      message: `teachers.softTargets.key: no stored soft targets "${givenSoftTargets}"`,
      type: 'InvalidInput',
      nonRetryable: true,
    });
  }

  let soft: SoftTargetsRef;
  const teacherResults: TrainResult[] = [];
  let teachers: (ModelRef | null)[] = givenTeachers;
  if (lookup.found) {
    soft = lookup.found;
    if (teacherReqs.length > 0) teachers = await light.findModels(lookup.teacherDigests);
  } else {
    if (teacherReqs.length > 0) {
      teacherReqs.forEach((r) => progress.model(r.name, 'teacher', r.train.epochs));
      const results = await progress.stage('teachers', () => Promise.all(teacherReqs.map((r) => trainModel(r))));
      teacherResults.push(...results);
      teachers = results.map((r) => r.model);
    }
    const members = teachers.filter((t): t is ModelRef => t !== null);
    soft = await progress.stage('soft-targets', () =>
      compute.computeSoftTargets.executeWithOptions(
        {
          ...computeOptions,
          summary: `soft targets: logits of ${members.length} teacher${members.length === 1 ? '' : 's'} on ${data.counts.transfer} transfer examples`,
        },
        [{ key: lookup.key, data, teachers: members }],
      ),
    );
  }

  // Students: the hard-label baseline and one distilled student per (T, α), all in parallel.
  const studentSeed = cfg.seed * 1000 + 7;
  const studentReqs: (TrainRequest & { temperature?: number; alpha?: number })[] = [
    {
      name: 'baseline-hard',
      role: 'baseline',
      data,
      split: 'transfer',
      spec: cfg.student.model,
      train: cfg.student.train,
      seed: studentSeed,
    },
    ...cfg.students.map((v) => ({
      name: `student-T${v.temperature}-a${v.alpha}`,
      role: 'student' as const,
      data,
      split: 'transfer' as const,
      spec: cfg.student.model,
      train: cfg.student.train,
      seed: studentSeed,
      distill: { softTargets: soft, temperature: v.temperature, alpha: v.alpha, ensemble: cfg.ensemble },
      temperature: v.temperature,
      alpha: v.alpha,
    })),
  ];
  studentReqs.forEach((r) => progress.model(r.name, r.role, r.train.epochs));
  const studentResults = await progress.stage('students', () =>
    Promise.all(studentReqs.map(({ temperature: _t, alpha: _a, ...r }) => trainModel(r))),
  );

  // Evaluate everything on the test set; class-omission variants also get the bias-shift search.
  const t = cfg.transfer;
  const biasClasses = t.kind === 'excludeClasses' ? t.classes : t.kind === 'onlyClasses' ? t.classes : undefined;
  const toEvaluate: {
    name: string;
    role: ModelOutcome['role'];
    model: ModelRef;
    training?: TrainResult;
    epochs?: number;
    temperature?: number;
    alpha?: number;
  }[] = [
    ...teachers.flatMap((m, i) =>
      m
        ? [
            {
              name: teacherReqs[i]?.name ?? `teacher-${i + 1}`,
              role: 'teacher' as const,
              model: m,
              ...(teacherResults[i] ? { training: teacherResults[i], epochs: teacherReqs[i]!.train.epochs } : {}),
            },
          ]
        : [],
    ),
    ...studentReqs.map((r, i) => ({
      name: r.name,
      role: r.role,
      model: studentResults[i]!.model,
      training: studentResults[i]!,
      epochs: r.train.epochs,
      ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
      ...(r.alpha !== undefined ? { alpha: r.alpha } : {}),
    })),
  ];
  const evaluations: EvaluationSummary[] = await progress.stage('evaluate', () =>
    Promise.all(
      toEvaluate.map((m) =>
        compute.evaluateModel.executeWithOptions(
          {
            ...computeOptions,
            summary: `evaluate ${m.name} on the test set${biasClasses && m.role !== 'teacher' ? ', with the bias-shift search' : ''}`,
          },
          [{ name: m.name, model: m.model, data, ...(biasClasses && m.role !== 'teacher' ? { biasClasses } : {}) }],
        ),
      ),
    ),
  );

  const models: ModelOutcome[] = toEvaluate.map((m, i) => ({
    name: m.name,
    role: m.role,
    evaluation: evaluations[i]!,
    manifestKey: m.model.manifest.key,
    ...(m.temperature !== undefined ? { temperature: m.temperature } : {}),
    ...(m.alpha !== undefined ? { alpha: m.alpha } : {}),
    ...(m.training
      ? {
          training: {
            cached: m.training.cached,
            resumedFromEpoch: m.training.resumedFromEpoch,
            epochsTrained: m.training.epochsTrained,
            seconds: m.training.seconds,
            backend: m.training.backend,
            backendFallback: m.training.backendFallback,
            epochs: m.epochs ?? 0,
            loopSeconds: m.training.history
              .filter((h) => h.epoch > m.training!.resumedFromEpoch)
              .reduce((a, h) => a + h.seconds, 0),
          },
        }
      : {}),
  }));
  // The deployable artifact: the best distilled student, in the standard tfjs layers format.
  const best = models.filter((m) => m.role === 'student').sort((a, b) => a.evaluation.errors - b.evaluation.errors)[0];
  const exported = best
    ? await compute.exportModel.executeWithOptions(
        { ...computeOptions, summary: `export ${best.name} (best student) in the TensorFlow.js layers format` },
        [{ model: toEvaluate.find((m) => m.name === best.name)!.model, classNames: data.classNames }],
      )
    : undefined;
  const workflowId = workflowInfo().workflowId;
  const finishedAt = new Date(Date.now());
  const report = await progress.stage('report', () =>
    light.writeReport({
      workflowId,
      pipeline: 'distillationPipeline',
      config: cfg,
      softTargets: {
        key: soft.key,
        cacheHit: lookup.found !== null,
        inferenceSeconds: lookup.found ? 0 : (soft.inferenceSeconds ?? 0),
      },
      models,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      ...(exported && best ? { exported: { model: best.name, ...exported } } : {}),
    }),
  );
  return {
    workflowId,
    report,
    ...(exported && best ? { exported: { model: best.name, ...exported } } : {}),
    softTargets: { key: soft.key, cacheHit: lookup.found !== null },
    models: models.map((m) => ({
      name: m.name,
      role: m.role,
      errors: m.evaluation.errors,
      accuracy: m.evaluation.accuracy,
      manifestKey: m.manifestKey,
      cached: m.training?.cached ?? true,
    })),
  };
}
