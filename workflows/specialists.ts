/**
 * specialistsPipeline (paper §5): validate → prepare data → generalist (trained or given) → cluster
 * its confusions → one specialist per confusable subset, in parallel → KL-minimising combination on
 * the test set → report; optionally distil the combination back into one net through a child
 * distillationPipeline fed the combination's log q as stored soft targets.
 * Deterministic orchestration only; every byte of data moves through the artifact store.
 */
import {
  ApplicationFailure,
  executeChild,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { SpecialistsComputeActivities } from '../activities/specialists';
import type { SpecialistsPipelineActivities } from '../activities/specialists-pipeline';
import type {
  CombinationRequest,
  SpecialistModel,
  SpecialistRequest,
  SpecialistResult,
} from '../activities/specialists-types';
import type { ExportedCombination } from '../activities/specialists-export';
import type { DistillBackOutcome, SpecialistsReport, TrainingOutcome } from '../activities/specialists-report';
import type { StoredReport } from '../activities/report-files';
import type { ModelRef, TrainRequest, TrainResult } from '../activities/types';
import type { PipelineInput } from '../config/resolve';
import { distillationPipeline } from './distillation';
import { LIGHT_ACTIVITY_OPTIONS, computeActivityOptions, describeTraining } from './options';
import type { RunOptions } from './options';
import { ProgressTracker, modelProgressSignal, progressQuery } from './progress';

export interface SpecialistsInput extends PipelineInput {
  options?: RunOptions;
}

export interface SpecialistsSummary {
  workflowId: string;
  report: StoredReport;
  /** The generalist + specialists package: layers models, combination.json and loader.mjs (absent for runs started before it existed). */
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
  const opts = input.options ?? {};
  const light = proxyActivities<SpecialistsPipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const computeOptions = computeActivityOptions(opts);
  const compute = proxyActivities<ComputeActivities>(computeOptions);
  const special = proxyActivities<SpecialistsComputeActivities>(computeOptions);
  const progress = new ProgressTracker();
  setHandler(progressQuery, () => progress.snapshot());
  setHandler(modelProgressSignal, (u) => progress.update(u));
  const workflowId = workflowInfo().workflowId;

  const { overrides, preset, config } = input;
  const cfg = await progress.stage('validate', () =>
    light.validateSpecialistsInput({
      ...(preset !== undefined ? { preset } : {}),
      ...(overrides ? { overrides } : {}),
      ...(config ? { config } : {}),
    }),
  );
  const transfer = cfg.distill?.transfer ?? { kind: 'full' as const };
  const data = await progress.stage('prepare-data', () =>
    compute.prepareData.executeWithOptions(
      { ...computeOptions, summary: `prepare ${cfg.data.dataset}: validation split, transfer set` },
      [{ data: cfg.data, transfer, seed: cfg.seed }],
    ),
  );

  // 1. Generalist: trained on all classes (content-addressed, so an identical recipe is reused) or given.
  let generalist: ModelRef;
  let generalistTraining: TrainingOutcome | undefined;
  if ('ref' in cfg.generalist) {
    const ref = cfg.generalist.ref;
    generalist = await progress.stage('generalist', () =>
      light.resolveGeneralist({ manifestKey: ref.manifestKey, data }),
    );
  } else {
    const req: TrainRequest = {
      name: 'generalist',
      role: 'model',
      data,
      split: 'train',
      spec: cfg.generalist.model,
      train: cfg.generalist.train,
      seed: cfg.seed * 1000 + 101,
    };
    progress.model(req.name, 'generalist', req.train.epochs);
    const trained = await progress.stage('generalist', () =>
      progress.track(
        req.name,
        compute.trainModel.executeWithOptions({ ...computeOptions, summary: describeTraining(req) }, [req]),
      ),
    );
    generalist = trained.model;
    generalistTraining = trainingOutcome(trained, req.train.epochs);
  }

  // 2. Confusable subsets.
  const clusters = await progress.stage('cluster', () =>
    special.clusterConfusions.executeWithOptions(
      {
        ...computeOptions,
        summary: `cluster the generalist's confusions into ${cfg.clustering.specialists} subsets (k-means on the covariance of its ${cfg.clustering.on} predictions)`,
      },
      [
        {
          data,
          generalist,
          k: cfg.clustering.specialists,
          minSize: cfg.clustering.minSize,
          normalize: cfg.clustering.normalize,
          restarts: cfg.clustering.restarts,
          on: cfg.clustering.on,
          seed: cfg.seed,
        },
      ],
    ),
  );
  const trainedSubsets = clusters.subsets.filter((s) => s.length >= cfg.clustering.minClasses);
  const skipped = clusters.subsets.filter((s) => s.length < cfg.clustering.minClasses);

  // 3. Specialists, all at once: the compute workers' slots decide how many run side by side. One
  //    seed for all (subsets differ), so a subset that recurs under other clustering settings is reused.
  const specialistReqs: SpecialistRequest[] = trainedSubsets.map((subset, m) => ({
    name: `specialist-${m + 1}`,
    data,
    generalist,
    subset,
    train: cfg.specialist.train,
    seed: cfg.seed * 1000 + 301,
    sampleFactor: cfg.specialist.sampleFactor,
  }));
  specialistReqs.forEach((r) => progress.model(r.name, 'specialist', r.train.epochs));
  const specialistResults: SpecialistResult[] = await progress.stage('specialists', () =>
    Promise.all(
      specialistReqs.map((r) =>
        progress.track(
          r.name,
          special.trainSpecialist.executeWithOptions(
            {
              ...computeOptions,
              summary: `train ${r.name}: classes ${r.subset.join(',')} + dustbin, ${r.train.epochs} epochs from the generalist`,
            },
            [r],
          ),
        ),
      ),
    ),
  );
  const specialists: SpecialistModel[] = specialistResults.map((s) => ({
    name: s.name,
    model: s.model,
    subset: s.subset,
  }));

  // 4–5. Combination on the test set.
  const combination: CombinationRequest = { data, generalist, specialists, combine: cfg.combine };
  const evaluation = await progress.stage('combine', () =>
    special.evaluateCombination.executeWithOptions(
      {
        ...computeOptions,
        summary: `combine generalist + ${specialists.length} specialists (min KL, top-${cfg.combine.topN}) on the test set`,
      },
      [combination],
    ),
  );
  // Runs started before the package export existed replay without it (test/unit/replay.test.ts).
  const exported: ExportedCombination | undefined = !patched('export-combination-package')
    ? undefined
    : await progress.stage('export', () =>
        special.exportCombination.executeWithOptions(
          { ...computeOptions, summary: 'export generalist + specialists + KL-combining loader as one package' },
          [
            {
              combination,
              classNames: data.classNames,
              evaluation: {
                dataset: data.dataset,
                testExamples: evaluation.n,
                generalistErrors: evaluation.generalist.errors,
                combinedErrors: evaluation.combined.errors,
              },
            },
          ],
        ),
      );

  // 6. Distil back: the combination's log q on the transfer set → a child distillationPipeline.
  let distillBack: DistillBackOutcome | undefined;
  if (cfg.distill) {
    const d = cfg.distill;
    const soft = await progress.stage('soft-targets', () =>
      special.computeCombinedSoftTargets.executeWithOptions(
        {
          ...computeOptions,
          summary: `soft targets: the combination's log q on ${data.counts.transfer} transfer examples`,
        },
        [combination],
      ),
    );
    const childWorkflowId = `${workflowId}-distil-back`;
    const child = await progress.stage('distil-back', () =>
      executeChild(distillationPipeline, {
        workflowId: childWorkflowId,
        args: [
          {
            // Same data spec, seed and transfer rule: the child's data plan digest equals this run's.
            config: {
              name: cfg.name,
              seed: cfg.seed,
              data: cfg.data,
              transfer,
              teachers: { softTargets: { key: soft.key } },
              student: d.student,
              students: d.students,
            },
            options: opts,
          },
        ],
      }),
    );
    if (child.softTargets.key !== soft.key)
      throw ApplicationFailure.create({
        message: `distil-back child used soft targets ${child.softTargets.key}, expected ${soft.key}`,
        nonRetryable: true,
      });
    distillBack = {
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

  const finishedAt = new Date(Date.now());
  const report: SpecialistsReport = {
    workflowId,
    pipeline: 'specialistsPipeline',
    config: cfg,
    dataset: data.dataset,
    classNames: data.classNames,
    generalist: {
      manifestKey: generalist.manifest.key,
      digest: generalist.digest,
      given: 'ref' in cfg.generalist,
      ...(generalistTraining ? { training: generalistTraining } : {}),
    },
    clustering: {
      key: clusters.key,
      cached: clusters.cached,
      subsets: clusters.subsets,
      examples: clusters.examples,
      covariance: clusters.covariance,
      skipped,
    },
    specialists: specialistResults.map((s, m) => ({
      name: s.name,
      subset: s.subset,
      manifestKey: s.model.manifest.key,
      digest: s.model.digest,
      sampling: s.sampling,
      training: trainingOutcome(s, specialistReqs[m]!.train.epochs),
    })),
    evaluation,
    ...(distillBack ? { distillBack } : {}),
    ...(exported ? { exported: { dir: exported.dir, manifest: exported.manifest } } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
  };
  const written = await progress.stage('report', () => light.writeSpecialistsReport(report));
  return {
    workflowId,
    report: written,
    ...(exported ? { exported: { dir: exported.dir, manifest: exported.manifest } } : {}),
    generalist: {
      errors: evaluation.generalist.errors,
      accuracy: evaluation.generalist.accuracy,
      manifestKey: generalist.manifest.key,
      cached: generalistTraining?.cached ?? true,
    },
    combined: {
      errors: evaluation.combined.errors,
      accuracy: evaluation.combined.accuracy,
      relativeErrorChange: evaluation.relativeErrorChange,
    },
    subsets: clusters.subsets,
    specialists: specialistResults.map((s) => ({
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
