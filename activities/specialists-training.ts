/**
 * trainSpecialist (paper §5, step 3): one specialist, durable and content-addressed like trainModel: heartbeats,
 * checkpoints, resume, cancellation and progress signals, and a re-run reuses a published one.
 */
import { CancelledFailure } from '@temporalio/activity';
import type { Logger } from '../config/logger';
import type { Dataset } from '../ml/datasets';
import type { Plan } from '../ml/splits';
import { trainSpecialist as trainSpecialistNet } from '../ml/specialists';
import type { SpecialistRun } from '../ml/specialists';
import { findModel, loadNet, loadPlan, publishModel, readManifest } from './artifacts';
import type { ComputeDeps } from './compute';
import { datasetFor } from './dataset-source';
import { specialistDigest } from './digests';
import { activityContext, dropCheckpoints, durableTraining } from './durable-training';
import { invalidInput } from './failures';
import type { SpecialistRequest, SpecialistResult, SpecialistSamplingInfo } from './specialists-types';
import type { ModelRef } from './types';

export async function trainSpecialist(deps: ComputeDeps, req: SpecialistRequest): Promise<SpecialistResult> {
  const { store } = deps;
  const started = Date.now();
  const digest = specialistDigest(req);
  const log = specialistLogger(deps.logger, req.name, digest);
  const result = ({ sampling, ...outcome }: Outcome): SpecialistResult => ({
    name: req.name,
    subset: req.subset,
    backend: deps.backend.backend,
    backendFallback: deps.backend.fallback,
    ...outcome,
    seconds: (Date.now() - started) / 1000,
    sampling,
  });

  const existing = await findModel(store, digest);
  if (existing) {
    const m = await readManifest(store, existing.manifest.key);
    const sampling = (m.provenance['specialist'] as { sampling: SpecialistSamplingInfo }).sampling;
    log.info('identical specialist already published; reusing it');
    return result({ model: existing, cached: true, resumedFromEpoch: 0, epochsTrained: 0, history: [], sampling });
  }

  return result(await trainAndPublish(deps, req, digest, log));
}

type Outcome = Omit<SpecialistResult, 'name' | 'subset' | 'backend' | 'backendFallback' | 'seconds'>;

/** Trains the specialist (resuming from its newest checkpoint) and publishes it. */
async function trainAndPublish(
  deps: ComputeDeps,
  req: SpecialistRequest,
  digest: string,
  log: Logger,
): Promise<Outcome> {
  const { store } = deps;
  const ds = await datasetFor(req.data, store);
  const plan = await loadPlan(store, req.data.plan);
  const sampleSize = specialistSampleSize(req, ds, plan);
  const generalist = await loadNet(store, await readManifest(store, req.generalist.manifest.key));
  const { resume, hooks, lastCheckpointEpoch } = await durableTraining(deps, {
    digest,
    name: req.name,
    epochs: req.train.epochs,
    log,
  });
  log.info(
    { subset: req.subset, classes: req.subset.map((c) => ds.classNames[c]), epochs: req.train.epochs },
    `training ${req.name}`,
  );
  try {
    const { epochs, batchSize, optimizer, lrSchedule, jitter } = req.train;
    const run = await trainSpecialistNet(
      generalist,
      { images: ds.train.images, labels: ds.train.labels, side: [ds.rows, ds.cols], pool: plan.train },
      req.subset,
      { epochs, batchSize, optimizer, lrSchedule, jitter, seed: req.seed },
      { hooks, sampleSize, ...(resume ? { resume } : {}) },
    );
    try {
      const sampling = samplingInfo(run);
      const model = await publishSpecialist(deps, req, digest, ds, run, sampling);
      await dropCheckpoints(store, digest);
      const resumedFromEpoch = resume?.epoch ?? 0;
      const epochsTrained = req.train.epochs - resumedFromEpoch;
      log.info(
        { epochsTrained, resumedFromEpoch, correctionFactor: run.sampling.correctionFactor },
        'specialist published',
      );
      return { model, cached: false, resumedFromEpoch, epochsTrained, history: run.history, sampling };
    } finally {
      run.net.dispose();
    }
  } catch (err) {
    if (err instanceof CancelledFailure) log.warn({ lastCheckpointEpoch: lastCheckpointEpoch() }, 'training cancelled');
    else log.error({ err }, 'specialist training failed');
    throw err;
  } finally {
    generalist.dispose();
  }
}

function specialistLogger(logger: Logger, name: string, digest: string): Logger {
  const ctx = activityContext();
  return logger.child({
    activity: 'trainSpecialist',
    model: name,
    digest,
    ...(ctx ? { workflowId: ctx.info.workflowExecution?.workflowId, attempt: ctx.info.attempt } : {}),
  });
}

/**
 * Examples per epoch: `sampleFactor` × twice the subset's examples in the pool, so at factor 1 half of each epoch
 * is the subset. Refuses a subset that the pool has none of, or nothing but.
 */
function specialistSampleSize(req: SpecialistRequest, ds: Dataset, plan: Plan): number {
  const inSubset = new Set(req.subset);
  const specialInPool = plan.train.reduce((n, i) => n + (inSubset.has(ds.train.labels[i]!) ? 1 : 0), 0);
  if (specialInPool === 0 || specialInPool === plan.train.length)
    throw invalidInput(
      `${req.name}: the training split needs examples both in and outside classes ${req.subset.join(', ')}`,
    );
  return Math.max(2, Math.round(req.sampleFactor * 2 * specialInPool));
}

function samplingInfo({ sampling: s }: SpecialistRun): SpecialistSamplingInfo {
  return {
    examples: s.indices.length,
    specialCount: s.specialCount,
    naturalFraction: s.naturalFraction,
    trainFraction: s.trainFraction,
    oversampling: s.oversampling,
    correctionFactor: s.correctionFactor,
  };
}

/** Publishes the specialist with what a reader needs to use it: its classes, dustbin correction and provenance. */
function publishSpecialist(
  deps: ComputeDeps,
  req: SpecialistRequest,
  digest: string,
  ds: Dataset,
  run: SpecialistRun,
  sampling: SpecialistSamplingInfo,
): Promise<ModelRef> {
  const factor = run.sampling.correctionFactor;
  return publishModel(deps.store, digest, run.net, [ds.rows, ds.cols], {
    name: req.name,
    role: 'specialist',
    specialist: {
      subset: req.subset,
      classNames: req.subset.map((c) => ds.classNames[c]!),
      dustbin: req.subset.length,
      correctionFactor: factor,
      dustbinLogitShift: Math.log(factor),
      sampling,
    },
    generalist: { digest: req.generalist.digest, weightsSha256: req.generalist.weights.sha256 },
    data: {
      dataset: req.data.dataset,
      datasetDigest: req.data.datasetDigest,
      trainDigest: req.data.trainDigest,
      planDigest: req.data.planDigest,
      split: 'train',
    },
    train: req.train,
    seed: req.seed,
    sampleFactor: req.sampleFactor,
    backend: deps.backend,
    history: run.history,
  });
}
