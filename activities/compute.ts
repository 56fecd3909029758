/**
 * Compute-queue activities: thin adapters that load data and weights, call ml/, and publish results.
 * Long ones heartbeat, checkpoint to the store, resume from the newest checkpoint on retry, and stop
 * on cancellation between batches.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import { digestOf } from '../storage/hash';
import { decodeTensors, encodeTensors } from '../storage/tensor-codec';
import type { BackendInfo } from '../ml/backend';
import type { DatasetName } from '../ml/datasets';
import { loadDataset } from '../ml/datasets';
import { metrics, predictLogits, searchBiasShift, biasVector } from '../ml/evaluate';
import { softTargetsAt } from '../ml/losses';
import { buildNet } from '../ml/models';
import { makePlan } from '../ml/splits';
import type { TrainSnapshot } from '../ml/train';
import { train } from '../ml/train';
import type { Logger } from '../config/logger';
import type { DataSpec, TransferSpec } from '../config/schemas';
import { findModel, keys, loadCheckpoint, loadNet, loadPlan, publishModel, readManifest, saveCheckpoint, savePlan } from './artifacts';
import { modelDigest } from './digests';
import { mapFailures } from './failures';
import type { ModelProgressUpdate } from '../workflows/progress';
import type { DataPlanRef, EvaluateRequest, EvaluationSummary, ModelRef, SoftTargetsRef, TrainRequest, TrainResult } from './types';

export interface ComputeDeps {
  store: ArtifactStore;
  logger: Logger;
  backend: BackendInfo;
  /** Save a checkpoint every this many epochs. @default 1 */
  checkpointEvery?: number;
  /** Delivers per-epoch progress to the calling workflow (a `modelProgress` signal). Best effort. */
  reportProgress?: (workflow: { workflowId: string; runId: string }, update: ModelProgressUpdate) => Promise<void>;
}

/** What a training activity heartbeats: small, and enough to resume. */
export interface TrainHeartbeat {
  epoch: number;
  batch?: number;
  checkpoint?: { key: string; sha256: string; bytes: number; epoch: number };
}

async function datasetFor(data: DataPlanRef) {
  const ds = await loadDataset(data.dataset as DatasetName);
  if (ds.digest !== data.datasetDigest) throw new Error(`dataset ${data.dataset} changed since the data plan was made (digest ${ds.digest} != ${data.datasetDigest})`);
  return ds;
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (unit tests, benchmarks)
  }
}

export function createComputeActivities(deps: ComputeDeps) {
  const { store } = deps;

  async function prepareData(req: { data: DataSpec; transfer: TransferSpec; seed: number }): Promise<DataPlanRef> {
    const ds = await loadDataset(req.data.dataset);
    const splitSpec = { validationSize: req.data.validationSize, trainLimit: req.data.trainLimit, transfer: req.transfer, seed: req.seed };
    const trainDigest = digestOf({ dataset: ds.digest, validationSize: splitSpec.validationSize, trainLimit: splitSpec.trainLimit, seed: req.seed });
    const planDigest = digestOf({ trainDigest, transfer: req.transfer });
    const plan = makePlan(ds.train.labels, splitSpec);
    const ref = await savePlan(store, planDigest, plan);
    return {
      dataset: req.data.dataset, datasetDigest: ds.digest, trainDigest, planDigest, plan: ref, numClasses: ds.numClasses, classNames: ds.classNames,
      counts: { train: plan.train.length, validation: plan.validation.length, transfer: plan.transfer.length, test: ds.test.n },
    };
  }

  async function latestCheckpoint(digest: string, fromHeartbeat: TrainHeartbeat | undefined): Promise<TrainSnapshot | undefined> {
    // Prefer the heartbeat's checkpoint (this activity's own retry); else the newest one in the
    // store (a re-run workflow training the same recipe continues where the failed one stopped).
    if (fromHeartbeat?.checkpoint) return loadCheckpoint(store, fromHeartbeat.checkpoint);
    const stored = (await store.list(`checkpoints/${digest}/`)).filter((k) => k.endsWith('.cht'));
    const newest = stored.at(-1);
    return newest ? loadCheckpoint(store, newest) : undefined;
  }

  async function trainModel(req: TrainRequest): Promise<TrainResult> {
    const started = Date.now();
    const ctx = activityContext();
    const digest = modelDigest(req);
    const log = deps.logger.child({ activity: 'trainModel', model: req.name, digest, ...(ctx ? { workflowId: ctx.info.workflowExecution?.workflowId, attempt: ctx.info.attempt } : {}) });
    const existing = await findModel(store, digest);
    if (existing) {
      log.info('identical model already published; reusing it');
      return { model: existing, cached: true, resumedFromEpoch: 0, epochsTrained: 0, history: [], seconds: (Date.now() - started) / 1000, backend: deps.backend.backend, backendFallback: deps.backend.fallback };
    }
    const ds = await datasetFor(req.data);
    const plan = await loadPlan(store, req.data.plan);
    const indices = req.split === 'train' ? plan.train : plan.transfer;
    const side: [number, number] = [ds.rows, ds.cols];
    let softTargets: Float32Array | undefined;
    if (req.distill) {
      const t = decodeTensors(await store.get(req.distill.softTargets.logits));
      const logits = t['logits']!;
      const [members, n, C] = logits.shape as [number, number, number];
      const all = logits.data as Float32Array;
      const perMember = Array.from({ length: members }, (_, m) => all.subarray(m * n * C, (m + 1) * n * C));
      softTargets = softTargetsAt(perMember, n, C, req.distill.temperature, req.distill.ensemble);
    }
    const resume = await latestCheckpoint(digest, ctx?.info.heartbeatDetails as TrainHeartbeat | undefined);
    if (resume) log.info({ resumeEpoch: resume.epoch, epochs: req.train.epochs }, `resuming from checkpoint after epoch ${resume.epoch}`);

    const net = buildNet(req.spec, { inputShape: side, numClasses: ds.numClasses, seed: req.seed });
    log.info({ role: req.role, spec: req.spec, epochs: req.train.epochs, examples: indices.length, distill: req.distill ? { T: req.distill.temperature, alpha: req.distill.alpha } : null }, `training ${req.name}`);
    let lastCheckpoint: TrainHeartbeat['checkpoint'];
    const every = deps.checkpointEvery ?? 1;
    try {
      const history = await train(net, { images: ds.train.images, labels: ds.train.labels, side, indices, ...(softTargets ? { softTargets } : {}) }, {
        epochs: req.train.epochs, batchSize: req.train.batchSize, optimizer: req.train.optimizer, lrSchedule: req.train.lrSchedule,
        jitter: req.train.jitter, seed: req.seed,
        ...(req.distill ? { temperature: req.distill.temperature, alpha: req.distill.alpha } : {}),
      }, {
        throwIfCancelled: () => {
          if (ctx?.cancellationSignal.aborted) throw new CancelledFailure(`training of ${req.name} cancelled`);
        },
        onBatch: (p) => ctx?.heartbeat({ epoch: p.epoch - 1, batch: p.batch, ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}) } satisfies TrainHeartbeat),
        onEpochEnd: async (stats, snapshot) => {
          log.info({ ...stats, epochs: req.train.epochs }, `epoch ${stats.epoch}/${req.train.epochs} loss ${stats.loss.toFixed(4)} acc ${(stats.trainAccuracy * 100).toFixed(2)}%`);
          if (stats.epoch % every === 0 && stats.epoch < req.train.epochs) {
            // Write (and verify) the checkpoint before the heartbeat that names it.
            const ref = await saveCheckpoint(store, digest, snapshot());
            lastCheckpoint = { ...ref, epoch: stats.epoch };
          }
          ctx?.heartbeat({ epoch: stats.epoch, ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}) } satisfies TrainHeartbeat);
          const wf = ctx?.info.workflowExecution;
          if (wf && deps.reportProgress) {
            const update: ModelProgressUpdate = {
              model: req.name, epoch: stats.epoch, epochs: req.train.epochs, loss: stats.loss, trainAccuracy: stats.trainAccuracy, epochSeconds: stats.seconds,
              ...(resume && stats.epoch === resume.epoch + 1 ? { resumedFromEpoch: resume.epoch } : {}),
            };
            deps.reportProgress(wf, update).catch((err: unknown) => log.warn({ err }, 'progress signal not delivered'));
          }
        },
      }, resume);
      const model = await publishModel(store, digest, net, side, {
        name: req.name, role: req.role, data: { dataset: req.data.dataset, datasetDigest: req.data.datasetDigest, planDigest: req.data.planDigest, split: req.split },
        train: req.train, seed: req.seed, distill: req.distill ?? null, backend: deps.backend, history,
      });
      for (const k of await store.list(`checkpoints/${digest}/`)) await store.delete(k);
      const epochsTrained = req.train.epochs - (resume?.epoch ?? 0);
      log.info({ epochsTrained, resumedFromEpoch: resume?.epoch ?? 0 }, 'model published');
      return { model, cached: false, resumedFromEpoch: resume?.epoch ?? 0, epochsTrained, history, seconds: (Date.now() - started) / 1000, backend: deps.backend.backend, backendFallback: deps.backend.fallback };
    } catch (err) {
      if (err instanceof CancelledFailure) log.warn({ lastCheckpointEpoch: lastCheckpoint?.epoch ?? 0 }, 'training cancelled');
      else log.error({ err }, 'training failed');
      throw err;
    } finally {
      net.dispose();
    }
  }

  async function computeSoftTargets(req: { key: string; data: DataPlanRef; teachers: ModelRef[] }): Promise<SoftTargetsRef> {
    const ds = await datasetFor(req.data);
    const plan = await loadPlan(store, req.data.plan);
    const n = plan.transfer.length;
    const C = ds.numClasses;
    const all = new Float32Array(req.teachers.length * n * C);
    for (const [m, teacher] of req.teachers.entries()) {
      const net = await loadNet(store, await readManifest(store, teacher.manifest.key));
      try {
        all.set(await predictLogits(net, ds.train.images, [ds.rows, ds.cols], plan.transfer), m * n * C);
      } finally {
        net.dispose();
      }
      activityContext()?.heartbeat({ teacher: m + 1 });
    }
    const dir = keys.softTargets(req.key);
    const logits = await store.put(`${dir}/logits.cht`, encodeTensors({ logits: { dtype: 'float32', shape: [req.teachers.length, n, C], data: all } }));
    const manifest = await putJson(store, `${dir}/manifest.json`, {
      kind: 'chrysalis-soft-targets', version: 1, key: req.key, logits, members: req.teachers.length, n, numClasses: C,
      provenance: { teachers: req.teachers.map((t) => ({ digest: t.digest, weightsSha256: t.weights.sha256 })), dataset: req.data.dataset, datasetDigest: req.data.datasetDigest, planDigest: req.data.planDigest, transferIndices: 'data plan "transfer" split' },
    });
    deps.logger.info({ key: req.key, members: req.teachers.length, n }, 'soft targets (teacher logits) stored');
    return { key: req.key, logits, manifest, members: req.teachers.length, n, numClasses: C };
  }

  async function evaluateModel(req: EvaluateRequest): Promise<EvaluationSummary> {
    const ds = await datasetFor(req.data);
    const net = await loadNet(store, await readManifest(store, req.model.manifest.key));
    const side: [number, number] = [ds.rows, ds.cols];
    const C = ds.numClasses;
    try {
      const testIdx = Int32Array.from({ length: ds.test.n }, (_, i) => i);
      const testLogits = await predictLogits(net, ds.test.images, side, testIdx);
      const m = metrics(testLogits, ds.test.labels, C);
      let biasShift: EvaluationSummary['biasShift'];
      if (req.biasClasses && req.biasClasses.length > 0) {
        const plan = await loadPlan(store, req.data.plan);
        const valLogits = await predictLogits(net, ds.train.images, side, plan.validation);
        const valLabels = Uint8Array.from(plan.validation, (i) => ds.train.labels[i]!);
        const onVal = searchBiasShift(valLogits, valLabels, C, req.biasClasses);
        const onTest = searchBiasShift(testLogits, ds.test.labels, C, req.biasClasses);
        biasShift = {
          classes: req.biasClasses, validationShift: onVal.shift,
          testErrorsWithValidationShift: metrics(testLogits, ds.test.labels, C, biasVector(C, onVal)).errors,
          testOptimalShift: onTest.shift, testOptimalErrors: onTest.errors,
        };
      }
      const details = await putJson(store, keys.evaluation(req.model.digest, req.data.planDigest), { name: req.name, model: req.model.digest, ...m, classNames: ds.classNames, biasShift: biasShift ?? null });
      return { name: req.name, modelDigest: req.model.digest, errors: m.errors, n: m.n, accuracy: m.accuracy, perClassErrors: m.perClassErrors, ...(biasShift ? { biasShift } : {}), details };
    } finally {
      net.dispose();
    }
  }

  return {
    prepareData: mapFailures('prepareData', prepareData),
    trainModel: mapFailures('trainModel', trainModel),
    computeSoftTargets: mapFailures('computeSoftTargets', computeSoftTargets),
    evaluateModel: mapFailures('evaluateModel', evaluateModel),
  };
}

export type ComputeActivities = ReturnType<typeof createComputeActivities>;
