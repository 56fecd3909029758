/**
 * The generalist + specialists combination (paper §5, steps 4–6): evaluated on the test set, stored as soft targets
 * on the transfer set for a distillationPipeline to read like teacher logits, and exported as one package.
 */
import type { ArtifactRef } from '../storage/artifact-store';
import { getJson, putJson } from '../storage/artifact-store';
import { encodeTensors } from '../storage/tensor-codec';
import { keys } from '../common/store-keys';
import { metrics } from '../ml/evaluate';
import type { Metrics } from '../ml/evaluate';
import { combinationStatistics, combineInSlices } from '../ml/specialists';
import { loadPlan } from '../artifacts/models';
import type { ComputeDeps } from './compute-deps';
import { datasetFor } from '../data/sources';
import { combinationDigest, combinedSoftTargetsKey } from '../artifacts/digests';
import { combinationInputs } from '../artifacts/model-outputs';
import { activityHeartbeat as heartbeat } from './durable-training';
import { exportCombinationPackage } from '../artifacts/combination-package';
import type {
  CombinationEvaluation,
  CombinationRequest,
  CombinedSoftTargets,
  ExportCombinationRequest,
  ExportedCombination,
  ModelScore,
} from '../contracts/specialists';

function score(m: Metrics): ModelScore {
  return { errors: m.errors, accuracy: m.accuracy, perClassErrors: m.perClassErrors };
}

/** Steps 4–5: combine on the whole test set and score it against the generalist alone. */
export async function evaluateCombination(deps: ComputeDeps, req: CombinationRequest): Promise<CombinationEvaluation> {
  const { store } = deps;
  const ds = await datasetFor(req.data, deps);
  const n = ds.test.n;
  const C = ds.numClasses;
  const key = combinationDigest(req.generalist, req.specialists, req.combine);
  const everyTestImage = Int32Array.from({ length: n }, (_, i) => i);
  const { pg, specs } = await combinationInputs(store, req, ds, ds.test.images, everyTestImage, heartbeat);
  const t0 = performance.now();
  const { q, active, iterations } = await combineInSlices(pg, n, C, specs, req.combine, (done) =>
    heartbeat({ stage: 'combine', done }),
  );
  const combineSeconds = (performance.now() - t0) / 1000;

  const gm = metrics(pg, ds.test.labels, C);
  const cm = metrics(q, ds.test.labels, C);
  const { byCoverage, perSubset, firing } = combinationStatistics({
    pg,
    q,
    active,
    labels: ds.test.labels,
    numClasses: C,
    specialists: req.specialists.map((s, m) => ({ name: s.name, subset: s.subset, probs: specs[m]!.probs })),
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
 * Step 6: the combination's log q on the data plan's transfer set, stored exactly as computeSoftTargets stores
 * teacher logits (one member), so a distillationPipeline started with `teachers.softTargets.key` distils it.
 * Content-addressed: a stored one is reused.
 */
export async function computeCombinedSoftTargets(
  deps: ComputeDeps,
  req: CombinationRequest,
): Promise<CombinedSoftTargets> {
  const { store } = deps;
  const combination = combinationDigest(req.generalist, req.specialists, req.combine);
  const key = combinedSoftTargetsKey(req.data.planDigest, combination);
  const dir = keys.softTargets(key);
  const stored = await store.stat(`${dir}/manifest.json`);
  if (stored) {
    const m = await getJson<{ logits: ArtifactRef; members: number; n: number; numClasses: number }>(store, stored);
    deps.logger.info({ key }, 'combined soft targets already stored; reusing them');
    const { logits, members, n, numClasses } = m;
    return { key, logits, manifest: stored, members, n, numClasses, inferenceSeconds: 0, cached: true };
  }
  const ds = await datasetFor(req.data, deps);
  const plan = await loadPlan(store, req.data.plan);
  const n = plan.transfer.length;
  const C = ds.numClasses;
  const t0 = performance.now();
  const { pg, specs } = await combinationInputs(store, req, ds, ds.train.images, plan.transfer, heartbeat);
  const { q } = await combineInSlices(pg, n, C, specs, req.combine, (done) =>
    heartbeat({ stage: 'combine', done, of: n }),
  );
  const inferenceSeconds = (performance.now() - t0) / 1000;
  // log q (floored: q is a float32 softmax and can underflow); softmax(log q / T) is q sharpened or softened by T.
  const logq = Float32Array.from(q, (v) => Math.log(Math.max(v, 1e-30)));
  const logits = await store.put(
    `${dir}/logits.cht`,
    encodeTensors({ logits: { dtype: 'float32', shape: [1, n, C], data: logq } }),
  );
  const manifest = await putJson(store, `${dir}/manifest.json`, {
    kind: 'chrysalis-soft-targets',
    version: 1,
    key,
    logits,
    members: 1,
    n,
    numClasses: C,
    provenance: combinedSoftTargetsProvenance(req, combination),
  });
  deps.logger.info({ key, n, specialists: req.specialists.length }, 'combined soft targets (log q) stored');
  return { key, logits, manifest, members: 1, n, numClasses: C, inferenceSeconds, cached: false };
}

function combinedSoftTargetsProvenance(req: CombinationRequest, combination: string): Record<string, unknown> {
  const members = [req.generalist, ...req.specialists.map((s) => s.model)];
  return {
    source: 'generalist+specialists combination (log q)',
    combination,
    combine: req.combine,
    teachers: members.map((t) => ({ digest: t.digest, weightsSha256: t.weights.sha256 })),
    specialists: req.specialists.map((s) => ({ name: s.name, digest: s.model.digest, subset: s.subset })),
    dataset: req.data.dataset,
    datasetDigest: req.data.datasetDigest,
    planDigest: req.data.planDigest,
    transferIndices: 'data plan "transfer" split',
  };
}

/** Step 5b: the generalist + specialists as one package with the loader that combines them. */
export async function exportCombination(
  deps: ComputeDeps,
  req: Omit<ExportCombinationRequest, 'key'>,
): Promise<ExportedCombination> {
  const { generalist, specialists, combine } = req.combination;
  const out = await exportCombinationPackage(deps.store, {
    ...req,
    key: combinationDigest(generalist, specialists, combine),
  });
  deps.logger.info(
    { dir: out.dir, cached: out.cached, files: out.files.length },
    out.cached ? 'combination package already exported' : 'combination package exported',
  );
  return out;
}
