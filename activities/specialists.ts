/**
 * Activities of the specialists pipeline (paper §5).
 *
 * Compute queue (`createSpecialistsComputeActivities`): cluster the generalist's confusions, train one
 * specialist per subset (durable like trainModel: heartbeats, checkpoints, resume, cancellation,
 * progress signals; content-addressed so a re-run reuses finished specialists), evaluate the
 * KL-minimising combination on the test set, and store the combination's log q on the transfer set
 * as soft targets that a distillationPipeline reads exactly like teacher logits.
 *
 * The pipeline-queue activities are in specialists-pipeline.ts, the types that travel through
 * Temporal in specialists-types.ts (re-exported here).
 */
import { CancelledFailure } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs';
import type { ArtifactRef, ArtifactStore } from '../storage/artifact-store';
import { getJson, putJson } from '../storage/artifact-store';
import { digestOf } from '../storage/hash';
import { encodeTensors } from '../storage/tensor-codec';
import type { Dataset } from '../ml/datasets';
import { metrics, predictLogits } from '../ml/evaluate';
import type { Metrics } from '../ml/evaluate';
import { classCovariance, clusterClasses, combine, trainSpecialist as trainSpecialistNet } from '../ml/specialists';
import type { SpecialistProbs } from '../ml/specialists';
import { findModel, keys, loadNet, loadPlan, publishModel, readManifest } from './artifacts';
import type { ComputeDeps } from './compute';
import { datasetFor } from './dataset-source';
import { activityContext, dropCheckpoints, durableTraining } from './durable-training';
import { invalidInput, mapFailures } from './failures';
import { exportCombinationPackage } from './specialists-export';
import type { ExportCombinationRequest, ExportedCombination } from './specialists-export';
import type {
  ClusterRequest,
  ClusterResult,
  CombinationEvaluation,
  CombinationRequest,
  CombineSpec,
  CombinedSoftTargets,
  CoverageRow,
  FiringRow,
  ModelScore,
  SpecialistModel,
  SpecialistRequest,
  SpecialistResult,
  SpecialistSamplingInfo,
  SubsetRow,
} from './specialists-types';
import type { ModelRef } from './types';

export type * from './specialists-types';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Names a specialist's weights before they exist: everything that determines them. */
export function specialistDigest(
  req: Pick<SpecialistRequest, 'data' | 'generalist' | 'subset' | 'train' | 'seed' | 'sampleFactor'>,
): string {
  return digestOf({
    v: 1,
    kind: 'specialist',
    generalist: req.generalist.digest,
    data: req.data.trainDigest,
    subset: req.subset,
    train: req.train,
    seed: req.seed,
    sampleFactor: req.sampleFactor,
  });
}

/** Names a generalist + specialists combination (independent of the data it is applied to). */
export function combinationDigest(
  generalist: ModelRef,
  specialists: readonly SpecialistModel[],
  opts: CombineSpec,
): string {
  return digestOf({
    v: 1,
    kind: 'combination',
    generalist: generalist.digest,
    specialists: specialists.map((s) => ({ digest: s.model.digest, subset: s.subset })),
    combine: opts,
  });
}

function softmaxRows(logits: Float32Array, n: number, C: number): Float32Array {
  if (n === 0) return new Float32Array(0);
  return tf.tidy(() => tf.softmax(tf.tensor2d(logits, [n, C])).dataSync() as Float32Array);
}

async function probabilitiesOf(
  store: ArtifactStore,
  model: ModelRef,
  images: Uint8Array,
  side: [number, number],
  indices: Int32Array,
): Promise<Float32Array> {
  const net = await loadNet(store, await readManifest(store, model.manifest.key));
  try {
    return softmaxRows(await predictLogits(net, images, side, indices), indices.length, net.numClasses);
  } finally {
    net.dispose();
  }
}

/** Inputs combined per call: bounds memory and lets the activity heartbeat between slices. */
const SLICE = 8192;

/**
 * `combine()` over all n inputs, a slice at a time (each input's problem is independent, so this
 * equals one call), heartbeating between slices.
 */
async function combineAll(
  pg: Float32Array,
  n: number,
  C: number,
  specs: readonly SpecialistProbs[],
  opts: CombineSpec,
  beat: (done: number) => void,
): Promise<{ q: Float32Array; active: number[][]; iterations: number }> {
  const q = new Float32Array(n * C);
  const active: number[][] = [];
  let iterations = 0;
  for (let start = 0; start < n; start += SLICE) {
    const end = Math.min(n, start + SLICE);
    const part = specs.map((s) => ({
      subset: s.subset,
      probs: s.probs.subarray(start * (s.subset.length + 1), end * (s.subset.length + 1)),
    }));
    const res = await combine(pg.subarray(start * C, end * C), end - start, C, part, {
      topN: opts.topN,
      maxIterations: opts.maxIterations,
      tolerance: opts.tolerance,
    });
    q.set(res.q, start * C);
    active.push(...res.active);
    iterations = Math.max(iterations, res.iterations);
    beat(end);
  }
  return { q, active, iterations };
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
  return best;
}

function score(m: Metrics): ModelScore {
  return { errors: m.errors, accuracy: m.accuracy, perClassErrors: m.perClassErrors };
}

// ---------------------------------------------------------------------------------------------
// Compute queue
// ---------------------------------------------------------------------------------------------

export function createSpecialistsComputeActivities(deps: ComputeDeps) {
  const { store } = deps;
  const beat = (details: unknown) => activityContext()?.heartbeat(details);

  /** Step 2: covariance of the generalist's predicted probabilities → k-means on its columns. */
  async function clusterConfusions(req: ClusterRequest): Promise<ClusterResult> {
    const key = digestOf({
      v: 1,
      kind: 'clusters',
      generalist: req.generalist.digest,
      data: req.data.trainDigest,
      on: req.on,
      k: req.k,
      minSize: req.minSize,
      normalize: req.normalize,
      restarts: req.restarts,
      seed: req.seed,
    });
    const dir = keys.clusters(key);
    const stored = await store.stat(`${dir}/clusters.json`);
    if (stored) {
      const c = await getJson<{ subsets: number[][]; covariance: ArtifactRef; examples: number }>(store, stored);
      deps.logger.info({ key, subsets: c.subsets }, 'clusters already stored; reusing them');
      return {
        key,
        subsets: c.subsets,
        covariance: c.covariance,
        clusters: stored,
        examples: c.examples,
        cached: true,
      };
    }
    const ds = await datasetFor(req.data, store);
    const plan = await loadPlan(store, req.data.plan);
    const C = ds.numClasses;
    if (req.k > C || req.k * req.minSize > C)
      throw invalidInput(
        `clustering.specialists: ${req.k} clusters of at least ${req.minSize} classes do not fit ${C} classes`,
      );
    const indices = req.on === 'validation' ? plan.validation : plan.train;
    if (indices.length === 0) throw invalidInput(`clustering.on: the ${req.on} split is empty`);
    const probs = await probabilitiesOf(store, req.generalist, ds.train.images, [ds.rows, ds.cols], indices);
    beat({ stage: 'predicted', examples: indices.length });
    const cov = classCovariance(probs, indices.length, C);
    const subsets = clusterClasses(cov, C, {
      k: req.k,
      minSize: req.minSize,
      normalize: req.normalize,
      restarts: req.restarts,
      seed: req.seed,
    });
    const tooBig = subsets.find((s) => s.length > 255);
    if (tooBig)
      throw invalidInput(
        `clustering.specialists: a cluster of ${tooBig.length} classes exceeds the 255 a specialist can hold; ` +
          'use more clusters',
      );
    const covariance = await store.put(
      `${dir}/covariance.cht`,
      encodeTensors({ covariance: { dtype: 'float32', shape: [C, C], data: cov } }),
    );
    const clusters = await putJson(store, `${dir}/clusters.json`, {
      kind: 'chrysalis-clusters',
      version: 1,
      key,
      subsets,
      subsetNames: subsets.map((s) => s.map((c) => ds.classNames[c]!)),
      classNames: ds.classNames,
      covariance,
      examples: indices.length,
      parameters: {
        k: req.k,
        minSize: req.minSize,
        normalize: req.normalize,
        restarts: req.restarts,
        seed: req.seed,
        on: req.on,
      },
      provenance: {
        generalist: { digest: req.generalist.digest, weightsSha256: req.generalist.weights.sha256 },
        dataset: req.data.dataset,
        datasetDigest: req.data.datasetDigest,
        trainDigest: req.data.trainDigest,
        split: req.on,
      },
    });
    deps.logger.info(
      { key, subsets: subsets.map((s) => s.map((c) => ds.classNames[c])) },
      `confusable subsets from ${indices.length} ${req.on} predictions`,
    );
    return { key, subsets, covariance, clusters, examples: indices.length, cached: false };
  }

  /** Step 3: one specialist, durable and content-addressed like trainModel. */
  async function trainSpecialist(req: SpecialistRequest): Promise<SpecialistResult> {
    const started = Date.now();
    const ctx = activityContext();
    const digest = specialistDigest(req);
    const log = deps.logger.child({
      activity: 'trainSpecialist',
      model: req.name,
      digest,
      ...(ctx ? { workflowId: ctx.info.workflowExecution?.workflowId, attempt: ctx.info.attempt } : {}),
    });
    const base = {
      name: req.name,
      subset: req.subset,
      backend: deps.backend.backend,
      backendFallback: deps.backend.fallback,
    };

    const existing = await findModel(store, digest);
    if (existing) {
      const m = await readManifest(store, existing.manifest.key);
      const sampling = (m.provenance['specialist'] as { sampling: SpecialistSamplingInfo }).sampling;
      log.info('identical specialist already published; reusing it');
      return {
        ...base,
        model: existing,
        cached: true,
        resumedFromEpoch: 0,
        epochsTrained: 0,
        history: [],
        seconds: (Date.now() - started) / 1000,
        sampling,
      };
    }

    const ds: Dataset = await datasetFor(req.data, store);
    const plan = await loadPlan(store, req.data.plan);
    const side: [number, number] = [ds.rows, ds.cols];
    const inS = new Set(req.subset);
    const specialInPool = plan.train.reduce((n, i) => n + (inS.has(ds.train.labels[i]!) ? 1 : 0), 0);
    if (specialInPool === 0 || specialInPool === plan.train.length)
      throw invalidInput(
        `${req.name}: the training split needs examples both in and outside classes ${req.subset.join(', ')}`,
      );
    const sampleSize = Math.max(2, Math.round(req.sampleFactor * 2 * specialInPool));
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
      const run = await trainSpecialistNet(
        generalist,
        { images: ds.train.images, labels: ds.train.labels, side, pool: plan.train },
        req.subset,
        {
          epochs: req.train.epochs,
          batchSize: req.train.batchSize,
          optimizer: req.train.optimizer,
          lrSchedule: req.train.lrSchedule,
          jitter: req.train.jitter,
          seed: req.seed,
        },
        { hooks, sampleSize, ...(resume ? { resume } : {}) },
      );
      try {
        const s = run.sampling;
        const sampling: SpecialistSamplingInfo = {
          examples: s.indices.length,
          specialCount: s.specialCount,
          naturalFraction: s.naturalFraction,
          trainFraction: s.trainFraction,
          oversampling: s.oversampling,
          correctionFactor: s.correctionFactor,
        };
        const model = await publishModel(store, digest, run.net, side, {
          name: req.name,
          role: 'specialist',
          specialist: {
            subset: req.subset,
            classNames: req.subset.map((c) => ds.classNames[c]!),
            dustbin: req.subset.length,
            correctionFactor: s.correctionFactor,
            dustbinLogitShift: Math.log(s.correctionFactor),
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
        await dropCheckpoints(store, digest);
        const epochsTrained = req.train.epochs - (resume?.epoch ?? 0);
        log.info(
          { epochsTrained, resumedFromEpoch: resume?.epoch ?? 0, correctionFactor: s.correctionFactor },
          'specialist published',
        );
        return {
          ...base,
          model,
          cached: false,
          resumedFromEpoch: resume?.epoch ?? 0,
          epochsTrained,
          history: run.history,
          seconds: (Date.now() - started) / 1000,
          sampling,
        };
      } finally {
        run.net.dispose();
      }
    } catch (err) {
      if (err instanceof CancelledFailure)
        log.warn({ lastCheckpointEpoch: lastCheckpointEpoch() }, 'training cancelled');
      else log.error({ err }, 'specialist training failed');
      throw err;
    } finally {
      generalist.dispose();
    }
  }

  /** Generalist and specialist probabilities on some images: the combination's inputs. */
  async function outputsOn(
    req: CombinationRequest,
    ds: Dataset,
    images: Uint8Array,
    indices: Int32Array,
  ): Promise<{ pg: Float32Array; specs: SpecialistProbs[] }> {
    const side: [number, number] = [ds.rows, ds.cols];
    const pg = await probabilitiesOf(store, req.generalist, images, side, indices);
    const specs: SpecialistProbs[] = [];
    for (const s of req.specialists) {
      specs.push({ subset: s.subset, probs: await probabilitiesOf(store, s.model, images, side, indices) });
      beat({ stage: 'inference', specialist: s.name });
    }
    return { pg, specs };
  }

  /** Steps 4–5: combine on the whole test set and score it against the generalist alone. */
  async function evaluateCombination(req: CombinationRequest): Promise<CombinationEvaluation> {
    const ds = await datasetFor(req.data, store);
    const n = ds.test.n;
    const C = ds.numClasses;
    const labels = ds.test.labels;
    const key = combinationDigest(req.generalist, req.specialists, req.combine);
    const { pg, specs } = await outputsOn(
      req,
      ds,
      ds.test.images,
      Int32Array.from({ length: n }, (_, i) => i),
    );
    const t0 = performance.now();
    const { q, active, iterations } = await combineAll(pg, n, C, specs, req.combine, (done) =>
      beat({ stage: 'combine', done }),
    );
    const combineSeconds = (performance.now() - t0) / 1000;

    const gm = metrics(pg, labels, C);
    const cm = metrics(q, labels, C);
    const gPred = Int32Array.from({ length: n }, (_, i) => argmax(pg.subarray(i * C, i * C + C)));
    const cPred = Int32Array.from({ length: n }, (_, i) => argmax(q.subarray(i * C, i * C + C)));

    const maxCover = active.reduce((m, a) => Math.max(m, a.length), 0);
    const byCoverage: CoverageRow[] = Array.from({ length: maxCover + 1 }, (_, k) => ({
      specialists: k,
      examples: 0,
      generalistCorrect: 0,
      combinedCorrect: 0,
      delta: 0,
      relativeChange: 0,
    }));
    const firing: FiringRow[] = req.specialists.map((s) => ({ name: s.name, fired: 0, firedOnSubset: 0 }));
    const inSubset = req.specialists.map((s) => new Set(s.subset));
    for (let i = 0; i < n; i++) {
      const row = byCoverage[active[i]!.length]!;
      row.examples += 1;
      if (gPred[i] === labels[i]) row.generalistCorrect += 1;
      if (cPred[i] === labels[i]) row.combinedCorrect += 1;
      for (const m of active[i]!) {
        firing[m]!.fired += 1;
        if (inSubset[m]!.has(labels[i]!)) firing[m]!.firedOnSubset += 1;
      }
    }
    for (const row of byCoverage) {
      row.delta = row.combinedCorrect - row.generalistCorrect;
      row.relativeChange = row.generalistCorrect > 0 ? row.delta / row.generalistCorrect : 0;
    }
    const perSubset: SubsetRow[] = req.specialists.map((s, m) => {
      const K = s.subset.length + 1;
      const probs = specs[m]!.probs;
      const position = new Map(s.subset.map((c, j) => [c, j]));
      const row: SubsetRow = {
        name: s.name,
        subset: s.subset,
        examples: 0,
        generalistCorrect: 0,
        combinedCorrect: 0,
        specialistCorrect: 0,
      };
      for (let i = 0; i < n; i++) {
        const j = position.get(labels[i]!);
        if (j === undefined) continue;
        row.examples += 1;
        if (gPred[i] === labels[i]) row.generalistCorrect += 1;
        if (cPred[i] === labels[i]) row.combinedCorrect += 1;
        if (argmax(probs.subarray(i * K, i * K + K)) === j) row.specialistCorrect += 1;
      }
      return row;
    });

    const relativeErrorChange = gm.errors > 0 ? (cm.errors - gm.errors) / gm.errors : 0;
    const details = await putJson(store, keys.evaluation(key, req.data.planDigest), {
      kind: 'chrysalis-combination-evaluation',
      key,
      classNames: ds.classNames,
      topN: req.combine.topN,
      generalist: { digest: req.generalist.digest, ...gm },
      combined: cm,
      specialists: req.specialists.map((s) => ({ name: s.name, digest: s.model.digest, subset: s.subset })),
      byCoverage,
      perSubset,
      firing,
      iterations,
    });
    deps.logger.info(
      { generalistErrors: gm.errors, combinedErrors: cm.errors, relativeErrorChange, iterations },
      'combination evaluated on the test set',
    );
    return {
      key,
      n,
      topN: req.combine.topN,
      generalist: score(gm),
      combined: score(cm),
      relativeErrorChange,
      byCoverage,
      perSubset,
      firing,
      iterations,
      combineSeconds,
      details,
    };
  }

  /**
   * Step 6: the combination's log q on the data plan's transfer set, stored exactly as
   * computeSoftTargets stores teacher logits (one member), so a distillationPipeline started with
   * `teachers.softTargets.key` distils it. Content-addressed: a stored one is reused.
   */
  async function computeCombinedSoftTargets(req: CombinationRequest): Promise<CombinedSoftTargets> {
    const combination = combinationDigest(req.generalist, req.specialists, req.combine);
    const key = digestOf({ v: 1, kind: 'combined-soft-targets', plan: req.data.planDigest, combination }, 24);
    const dir = keys.softTargets(key);
    const stored = await store.stat(`${dir}/manifest.json`);
    if (stored) {
      const m = await getJson<{ logits: ArtifactRef; members: number; n: number; numClasses: number }>(store, stored);
      deps.logger.info({ key }, 'combined soft targets already stored; reusing them');
      return {
        key,
        logits: m.logits,
        manifest: stored,
        members: m.members,
        n: m.n,
        numClasses: m.numClasses,
        inferenceSeconds: 0,
        cached: true,
      };
    }
    const ds = await datasetFor(req.data, store);
    const plan = await loadPlan(store, req.data.plan);
    const n = plan.transfer.length;
    const C = ds.numClasses;
    const t0 = performance.now();
    const { pg, specs } = await outputsOn(req, ds, ds.train.images, plan.transfer);
    const { q } = await combineAll(pg, n, C, specs, req.combine, (done) => beat({ stage: 'combine', done, of: n }));
    const inferenceSeconds = (performance.now() - t0) / 1000;
    // log q (floored: q is a float32 softmax and can underflow); softmax(log q / T) is q sharpened or softened by T.
    const logq = Float32Array.from(q, (v) => Math.log(Math.max(v, 1e-30)));
    const logits = await store.put(
      `${dir}/logits.cht`,
      encodeTensors({ logits: { dtype: 'float32', shape: [1, n, C], data: logq } }),
    );
    const members = [req.generalist, ...req.specialists.map((s) => s.model)];
    const manifest = await putJson(store, `${dir}/manifest.json`, {
      kind: 'chrysalis-soft-targets',
      version: 1,
      key,
      logits,
      members: 1,
      n,
      numClasses: C,
      provenance: {
        source: 'generalist+specialists combination (log q)',
        combination,
        combine: req.combine,
        teachers: members.map((t) => ({ digest: t.digest, weightsSha256: t.weights.sha256 })),
        specialists: req.specialists.map((s) => ({ name: s.name, digest: s.model.digest, subset: s.subset })),
        dataset: req.data.dataset,
        datasetDigest: req.data.datasetDigest,
        planDigest: req.data.planDigest,
        transferIndices: 'data plan "transfer" split',
      },
    });
    deps.logger.info({ key, n, specialists: req.specialists.length }, 'combined soft targets (log q) stored');
    return { key, logits, manifest, members: 1, n, numClasses: C, inferenceSeconds, cached: false };
  }

  /** Step 5b: the generalist + specialists as one package with the loader that combines them. */
  async function exportCombination(req: Omit<ExportCombinationRequest, 'key'>): Promise<ExportedCombination> {
    const key = combinationDigest(req.combination.generalist, req.combination.specialists, req.combination.combine);
    const out = await exportCombinationPackage(store, { ...req, key });
    deps.logger.info(
      { dir: out.dir, cached: out.cached, files: out.files.length },
      out.cached ? 'combination package already exported' : 'combination package exported',
    );
    return out;
  }

  return {
    clusterConfusions: mapFailures('clusterConfusions', clusterConfusions),
    exportCombination: mapFailures('exportCombination', exportCombination),
    trainSpecialist: mapFailures('trainSpecialist', trainSpecialist),
    evaluateCombination: mapFailures('evaluateCombination', evaluateCombination),
    computeCombinedSoftTargets: mapFailures('computeCombinedSoftTargets', computeCombinedSoftTargets),
  };
}

export type SpecialistsComputeActivities = ReturnType<typeof createSpecialistsComputeActivities>;
