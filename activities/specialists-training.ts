/**
 * trainSpecialist (paper §5, step 3): one specialist, durable and content-addressed like trainModel: heartbeats,
 * checkpoints, resume, cancellation and progress signals, and a re-run reuses a published one.
 */
import type { Logger } from '../config/logger';
import type { Dataset } from '../ml/datasets';
import type { Plan } from '../ml/splits';
import { trainSpecialist as trainSpecialistNet } from '../ml/specialists';
import type { SpecialistRun } from '../ml/specialists';
import { loadModelNet, loadPlan, modelInputOf, publishModel, readManifest } from '../artifacts/models';
import type { ComputeDeps } from './compute-deps';
import { datasetFor } from '../data/sources';
import { specialistDigest } from '../artifacts/digests';
import { runDurableTraining } from './durable-training';
import type { DurableTraining } from './durable-training';
import { invalidInput } from './failures';
import type { SpecialistRequest, SpecialistResult, SpecialistSamplingInfo } from '../contracts/specialists';
import type { ModelRef } from '../contracts/exchange';

export async function trainSpecialist(deps: ComputeDeps, req: SpecialistRequest): Promise<SpecialistResult> {
  const { store } = deps;
  const digest = specialistDigest(req);
  const result = await runDurableTraining(
    deps,
    { activity: 'trainSpecialist', ...req, digest },
    {
      reused: async (model) => {
        const m = await readManifest(store, model.manifest.key);
        return { sampling: (m.provenance['specialist'] as { sampling: SpecialistSamplingInfo }).sampling };
      },
      train: (training, log) => trainAndPublish(deps, req, digest, training, log),
    },
  );
  return { name: req.name, subset: req.subset, ...result };
}

/** Trains the specialist from the generalist's weights (resuming from its newest checkpoint) and publishes it. */
async function trainAndPublish(
  deps: ComputeDeps,
  req: SpecialistRequest,
  digest: string,
  { resume, hooks }: DurableTraining,
  log: Logger,
): Promise<{ model: ModelRef; history: SpecialistRun['history']; sampling: SpecialistSamplingInfo }> {
  const { store } = deps;
  const ds = await datasetFor(req.data, deps);
  const plan = await loadPlan(store, req.data.plan);
  const sampleSize = specialistSampleSize(req, ds, plan);
  const generalist = await loadModelNet(store, req.generalist);
  log.info(
    { subset: req.subset, classes: req.subset.map((c) => ds.classNames[c]), epochs: req.train.epochs },
    `training ${req.name}`,
  );
  try {
    const { epochs, batchSize, optimizer, lrSchedule, jitter } = req.train;
    const run = await trainSpecialistNet(
      generalist,
      { images: ds.train.images, labels: ds.train.labels, side: ds.shape, pool: plan.train },
      req.subset,
      { epochs, batchSize, optimizer, lrSchedule, jitter, seed: req.seed },
      { hooks, sampleSize, ...(resume ? { resume } : {}) },
    );
    try {
      const sampling = samplingInfo(run);
      const model = await publishSpecialist(deps, req, digest, ds, run, sampling);
      log.info({ correctionFactor: run.sampling.correctionFactor }, 'specialist trained');
      return { model, history: run.history, sampling };
    } finally {
      run.net.dispose();
    }
  } finally {
    generalist.dispose();
  }
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
  return publishModel(
    deps.store,
    digest,
    run.net,
    ds.shape,
    {
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
    },
    modelInputOf(ds),
  );
}
