/**
 * specialistsPipeline (paper §5): validate → prepare data → generalist (trained or given) → cluster
 * its confusions → one specialist per confusable subset, in parallel → KL-minimising combination on
 * the test set → export → report; optionally distil the combination back into one net through a
 * child distillationPipeline fed the combination's log q as stored soft targets.
 * Deterministic orchestration only; every byte of data moves through the artifact store.
 */
import { ApplicationFailure, executeChild, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { SpecialistsComputeActivities } from '../activities/specialists';
import type { SpecialistsPipelineActivities } from '../activities/specialists-pipeline';
import type {
  CombinationEvaluation,
  CombinationRequest,
  ClusterResult,
  ExportedCombination,
  SpecialistRequest,
  SpecialistResult,
} from '../contracts/specialists';
import type { DistillBackOutcome, SpecialistsReport, TrainingOutcome } from '../reports/specialists-markdown';
import type { StoredReport } from '../contracts/exchange';
import type { DataPlanRef, MeasureResult, ModelRef, TrainRequest, TrainResult } from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';
import type { PipelineInput } from '../config/resolve';
import type { SpecialistsConfig } from '../config/specialists';
import { distillationPipeline } from './distillation';
import { LIGHT_ACTIVITY_OPTIONS, describeMeasure, describeTraining } from './options';
import type { RunOptions } from './options';
import { startPipeline } from './prologue';
import { trainingSeed } from '../common/seeds';
import type { ProgressTracker } from './progress';

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

/** One run's fixed context: config, options, data plan, progress and the activity proxies. */
interface SpecialistsRun {
  cfg: SpecialistsConfig;
  options: RunOptions;
  data: DataPlanRef;
  progress: ProgressTracker;
  light: ReturnType<typeof proxyActivities<SpecialistsPipelineActivities>>;
  compute: ReturnType<typeof proxyActivities<ComputeActivities>>;
  special: ReturnType<typeof proxyActivities<SpecialistsComputeActivities>>;
  computeOptions: ActivityOptions;
}

function trainingOutcome(r: TrainResult, epochs: number): TrainingOutcome {
  return {
    cached: r.cached,
    resumedFromEpoch: r.resumedFromEpoch,
    epochsTrained: r.epochsTrained,
    seconds: r.seconds,
    backend: r.backend,
    backendFallback: r.backendFallback,
    epochs,
  };
}

export async function specialistsPipeline(input: SpecialistsInput): Promise<SpecialistsSummary> {
  const startedAt = new Date(Date.now());
  const light = proxyActivities<SpecialistsPipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const start = await startPipeline(input, (raw) => light.validateSpecialistsInput(raw));
  const { cfg, computeOptions, progress } = start;
  const compute = proxyActivities<ComputeActivities>(computeOptions);
  const special = proxyActivities<SpecialistsComputeActivities>(computeOptions);
  const data = await progress.stage('prepare-data', () =>
    compute.prepareData.executeWithOptions(
      { ...computeOptions, summary: `prepare ${cfg.data.dataset}: validation split, transfer set` },
      [{ data: cfg.data, transfer: transferOf(cfg), seed: cfg.seed, transferField: 'distill.transfer' }],
    ),
  );
  const run: SpecialistsRun = { ...start, data, light, compute, special };

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

  const finishedAt = new Date(Date.now());
  const report = specialistsReport(
    run,
    { generalist, clusters, specialistReqs, specialistResults, evaluation, measured },
    {
      ...(distillBack ? { distillBack } : {}),
      ...(exported ? { exported: { dir: exported.dir, manifest: exported.manifest } } : {}),
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    },
  );
  const written = await progress.stage('report', () => light.writeSpecialistsReport(report));
  return summarize(report, written, generalist.training, specialistResults);
}

/** The distil-back step's transfer rule; also the data plan's, so parent and child share one plan. */
function transferOf(cfg: SpecialistsConfig): NonNullable<SpecialistsConfig['distill']>['transfer'] {
  return cfg.distill?.transfer ?? { kind: 'full' };
}

/** 1. Generalist: trained on all classes (content-addressed, so an identical recipe is reused) or given. */
async function generalistStage(run: SpecialistsRun): Promise<{ model: ModelRef; training?: TrainingOutcome }> {
  const { cfg, data, progress } = run;
  const g = cfg.generalist;
  if ('ref' in g)
    return {
      model: await progress.stage('generalist', () =>
        run.light.resolveGeneralist({ manifestKey: g.ref.manifestKey, data }),
      ),
    };
  const req: TrainRequest = {
    name: 'generalist',
    role: 'model',
    data,
    split: 'train',
    spec: g.model,
    train: g.train,
    seed: trainingSeed(cfg.seed, 'generalist'),
  };
  progress.model(req.name, 'generalist', req.train.epochs);
  const summary = describeTraining(req);
  const trained = await progress.stage('generalist', () =>
    progress.track(req.name, run.compute.trainModel.executeWithOptions({ ...run.computeOptions, summary }, [req])),
  );
  return { model: trained.model, training: trainingOutcome(trained, req.train.epochs) };
}

/** 2. Confusable subsets: k-means on the covariance of the generalist's predicted probabilities. */
function clusterStage(run: SpecialistsRun, generalist: ModelRef): Promise<ClusterResult> {
  const c = run.cfg.clustering;
  const summary =
    `cluster the generalist's confusions into ${c.specialists} subsets ` +
    `(k-means on the covariance of its ${c.on} predictions)`;
  return run.progress.stage('cluster', () =>
    run.special.clusterConfusions.executeWithOptions({ ...run.computeOptions, summary }, [
      {
        data: run.data,
        generalist,
        k: c.specialists,
        minSize: c.minSize,
        normalize: c.normalize,
        restarts: c.restarts,
        on: c.on,
        seed: run.cfg.seed,
      },
    ]),
  );
}

/**
 * 3. One specialist per subset of at least `minClasses`. One seed for all (subsets differ), so a
 * subset that recurs under other clustering settings is reused.
 */
function specialistRequests(run: SpecialistsRun, generalist: ModelRef, clusters: ClusterResult): SpecialistRequest[] {
  const { cfg, data } = run;
  return clusters.subsets
    .filter((s) => s.length >= cfg.clustering.minClasses)
    .map((subset, m) => ({
      name: `specialist-${m + 1}`,
      data,
      generalist,
      subset,
      train: cfg.specialist.train,
      seed: trainingSeed(cfg.seed, 'specialist'),
      sampleFactor: cfg.specialist.sampleFactor,
    }));
}

/** All specialists at once: the compute workers' slots decide how many run side by side. */
function specialistsStage(run: SpecialistsRun, reqs: SpecialistRequest[]): Promise<SpecialistResult[]> {
  const { progress } = run;
  reqs.forEach((r) => progress.model(r.name, 'specialist', r.train.epochs));
  return progress.stage('specialists', () =>
    Promise.all(
      reqs.map((r) => {
        const what = `classes ${r.subset.join(',')} + dustbin`;
        const summary = `train ${r.name}: ${what}, ${r.train.epochs} epochs from the generalist`;
        return progress.track(
          r.name,
          run.special.trainSpecialist.executeWithOptions({ ...run.computeOptions, summary }, [r]),
        );
      }),
    ),
  );
}

/** 4–5. The KL-minimising combination on the test set. */
function combineStage(run: SpecialistsRun, combination: CombinationRequest): Promise<CombinationEvaluation> {
  const summary =
    `combine generalist + ${combination.specialists.length} specialists ` +
    `(min KL, top-${run.cfg.combine.topN}) on the test set`;
  return run.progress.stage('combine', () =>
    run.special.evaluateCombination.executeWithOptions({ ...run.computeOptions, summary }, [combination]),
  );
}

/** The package; runs started before it existed replay without it (test/unit/replay.test.ts). */
async function exportStage(
  run: SpecialistsRun,
  combination: CombinationRequest,
  evaluation: CombinationEvaluation,
): Promise<ExportedCombination | undefined> {
  if (!patched('export-combination-package')) return undefined;
  const summary = 'export generalist + specialists + KL-combining loader as one package';
  return run.progress.stage('export', () =>
    run.special.exportCombination.executeWithOptions({ ...run.computeOptions, summary }, [
      {
        combination,
        classNames: run.data.classNames,
        evaluation: {
          dataset: run.data.dataset,
          testExamples: evaluation.n,
          generalistErrors: evaluation.generalist.errors,
          combinedErrors: evaluation.combined.errors,
        },
      },
    ]),
  );
}

/** 6. Distil back: the combination's log q on the transfer set → a child distillationPipeline. */
async function distillBackStage(run: SpecialistsRun, combination: CombinationRequest): Promise<DistillBackOutcome> {
  const { cfg, progress } = run;
  const d = cfg.distill!;
  const summary = `soft targets: the combination's log q on ${run.data.counts.transfer} transfer examples`;
  const soft = await progress.stage('soft-targets', () =>
    run.special.computeCombinedSoftTargets.executeWithOptions({ ...run.computeOptions, summary }, [combination]),
  );
  const childWorkflowId = `${workflowInfo().workflowId}-distil-back`;
  // Same data spec, seed and transfer rule: the child's data plan digest equals this run's.
  const config = {
    name: cfg.name,
    seed: cfg.seed,
    data: cfg.data,
    transfer: transferOf(cfg),
    teachers: { softTargets: { key: soft.key } },
    student: d.student,
    students: d.students,
  };
  const child = await progress.stage('distil-back', () =>
    executeChild(distillationPipeline, { workflowId: childWorkflowId, args: [{ config, options: run.options }] }),
  );
  if (child.softTargets.key !== soft.key)
    throw ApplicationFailure.create({
      message: `distil-back child used soft targets ${child.softTargets.key}, expected ${soft.key}`,
      nonRetryable: true,
    });
  return {
    childWorkflowId,
    report: child.report,
    softTargets: { key: soft.key, cached: soft.cached, inferenceSeconds: soft.inferenceSeconds ?? 0 },
    models: child.models.map((m) => ({
      name: m.name,
      role: m.role,
      errors: m.errors,
      accuracy: m.accuracy,
      manifestKey: m.manifestKey,
      cached: m.cached,
    })),
  };
}

/** Size and speed of the generalist and each specialist, one after another so they do not slow each other. */
function measureStage(run: SpecialistsRun, combination: CombinationRequest): Promise<MeasureResult> {
  const models = [{ name: 'generalist', model: combination.generalist }, ...combination.specialists];
  const summary = describeMeasure(models.length);
  return run.progress.stage('measure', () =>
    run.compute.measureModels.executeWithOptions({ ...run.computeOptions, summary }, [
      { models: models.map(({ name, model }) => ({ name, model })), classNames: run.data.classNames },
    ]),
  );
}

/** What the stages produced, for the report. */
interface StageResults {
  generalist: { model: ModelRef; training?: TrainingOutcome };
  clusters: ClusterResult;
  specialistReqs: SpecialistRequest[];
  specialistResults: SpecialistResult[];
  evaluation: CombinationEvaluation;
  measured: MeasureResult | undefined;
}

function specialistsReport(
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

function summarize(
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
