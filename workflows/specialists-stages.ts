/**
 * The specialists pipeline's stages (paper §5), each one step of its DAG: generalist, clustering, specialists,
 * combination, export, distil-back, measurement. Workflow code.
 */
import { ApplicationFailure, executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { ActivityOptions, proxyActivities } from '@temporalio/workflow';
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
import type { DistillBackOutcome, TrainingOutcome } from '../reports/specialists-markdown';
import type { DataPlanRef, MeasureResult, ModelRef, TrainRequest, TrainResult } from '../contracts/exchange';
import type { SpecialistsConfig } from '../config/specialists';
import { distillationPipeline } from './distillation';
import { describeMeasure, describeTraining } from './options';
import type { RunOptions } from './options';
import { trainingSeed } from '../common/seeds';
import type { ProgressTracker } from './progress';

/** One run's fixed context: config, options, data plan, progress and the activity proxies. */
export interface SpecialistsRun {
  cfg: SpecialistsConfig;
  options: RunOptions;
  data: DataPlanRef;
  progress: ProgressTracker;
  light: ReturnType<typeof proxyActivities<SpecialistsPipelineActivities>>;
  compute: ReturnType<typeof proxyActivities<ComputeActivities>>;
  special: ReturnType<typeof proxyActivities<SpecialistsComputeActivities>>;
  computeOptions: ActivityOptions;
}

export function trainingOutcome(r: TrainResult, epochs: number): TrainingOutcome {
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

/** The distil-back step's transfer rule; also the data plan's, so parent and child share one plan. */
export function transferOf(cfg: SpecialistsConfig): NonNullable<SpecialistsConfig['distill']>['transfer'] {
  return cfg.distill?.transfer ?? { kind: 'full' };
}

/** 1. Generalist: trained on all classes (content-addressed, so an identical recipe is reused) or given. */
export async function generalistStage(run: SpecialistsRun): Promise<{ model: ModelRef; training?: TrainingOutcome }> {
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
export function clusterStage(run: SpecialistsRun, generalist: ModelRef): Promise<ClusterResult> {
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
export function specialistRequests(
  run: SpecialistsRun,
  generalist: ModelRef,
  clusters: ClusterResult,
): SpecialistRequest[] {
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
export function specialistsStage(run: SpecialistsRun, reqs: SpecialistRequest[]): Promise<SpecialistResult[]> {
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
export function combineStage(run: SpecialistsRun, combination: CombinationRequest): Promise<CombinationEvaluation> {
  const summary =
    `combine generalist + ${combination.specialists.length} specialists ` +
    `(min KL, top-${run.cfg.combine.topN}) on the test set`;
  return run.progress.stage('combine', () =>
    run.special.evaluateCombination.executeWithOptions({ ...run.computeOptions, summary }, [combination]),
  );
}

/** The package; runs started before it existed replay without it (test/unit/replay.test.ts). */
export async function exportStage(
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
export async function distillBackStage(
  run: SpecialistsRun,
  combination: CombinationRequest,
): Promise<DistillBackOutcome> {
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
export function measureStage(run: SpecialistsRun, combination: CombinationRequest): Promise<MeasureResult> {
  const models = [{ name: 'generalist', model: combination.generalist }, ...combination.specialists];
  const summary = describeMeasure(models.length);
  return run.progress.stage('measure', () =>
    run.compute.measureModels.executeWithOptions({ ...run.computeOptions, summary }, [
      { models: models.map(({ name, model }) => ({ name, model })), classNames: run.data.classNames },
    ]),
  );
}
