/**
 * clusterConfusions (paper §5, step 2): the covariance of the generalist's predicted probabilities, then k-means on
 * its columns. Content-addressed by generalist, split and parameters, so a re-run reuses stored clusters.
 */
import type { ArtifactRef } from '../storage/artifact-store';
import { getJson, putJson } from '../storage/artifact-store';
import { encodeTensors } from '../storage/tensor-codec';
import { keys } from '../common/store-keys';
import type { Dataset } from '../ml/datasets';
import { classCovariance, clusterClasses } from '../ml/specialists';
import { loadPlan } from '../artifacts/models';
import type { ComputeDeps } from './compute-deps';
import { datasetFor } from '../data/sources';
import { clustersKey } from '../artifacts/digests';
import { invalidInput } from './failures';
import { probabilitiesOf } from '../artifacts/model-outputs';
import { activityHeartbeat as heartbeat } from './durable-training';
import type { ClusterRequest, ClusterResult } from '../contracts/specialists';

/** Specialist targets are uint8 and the dustbin's label is |S|, so a subset holds at most 255 classes. */
const MAX_SUBSET = 255;

export async function clusterConfusions(deps: ComputeDeps, req: ClusterRequest): Promise<ClusterResult> {
  const { store } = deps;
  const key = clustersKey(req);
  const dir = keys.clusters(key);
  const stored = await store.stat(`${dir}/clusters.json`);
  if (stored) {
    const c = await getJson<{ subsets: number[][]; covariance: ArtifactRef; examples: number }>(store, stored);
    deps.logger.info({ key, subsets: c.subsets }, 'clusters already stored; reusing them');
    return { key, subsets: c.subsets, covariance: c.covariance, clusters: stored, examples: c.examples, cached: true };
  }
  const ds = await datasetFor(req.data, deps);
  const plan = await loadPlan(store, req.data.plan);
  const C = ds.numClasses;
  if (req.k > C || req.k * req.minSize > C)
    throw invalidInput(
      `clustering.specialists: ${req.k} clusters of at least ${req.minSize} classes do not fit ${C} classes`,
    );
  const indices = req.on === 'validation' ? plan.validation : plan.train;
  if (indices.length === 0) throw invalidInput(`clustering.on: the ${req.on} split is empty`);
  const probs = await probabilitiesOf(store, req.generalist, ds.train.images, ds.shape, indices);
  heartbeat({ stage: 'predicted', examples: indices.length });
  const cov = classCovariance(probs, indices.length, C);
  const { k, minSize, normalize, restarts, seed } = req;
  const subsets = clusterClasses(cov, C, { k, minSize, normalize, restarts, seed });
  const tooBig = subsets.find((s) => s.length > MAX_SUBSET);
  if (tooBig)
    throw invalidInput(
      `clustering.specialists: a cluster of ${tooBig.length} classes exceeds the ${MAX_SUBSET} ` +
        'a specialist can hold; use more clusters',
    );
  const { covariance, clusters } = await storeClusters(deps, req, {
    key,
    dir,
    ds,
    cov,
    subsets,
    examples: indices.length,
  });
  deps.logger.info(
    { key, subsets: subsets.map((s) => s.map((c) => ds.classNames[c])) },
    `confusable subsets from ${indices.length} ${req.on} predictions`,
  );
  return { key, subsets, covariance, clusters, examples: indices.length, cached: false };
}

/** The covariance first, then clusters.json naming it: a reader that finds the latter finds both. */
async function storeClusters(
  { store }: ComputeDeps,
  req: ClusterRequest,
  c: { key: string; dir: string; ds: Dataset; cov: Float32Array; subsets: number[][]; examples: number },
): Promise<{ covariance: ArtifactRef; clusters: ArtifactRef }> {
  const { ds, subsets } = c;
  const C = ds.numClasses;
  const covariance = await store.put(
    `${c.dir}/covariance.cht`,
    encodeTensors({ covariance: { dtype: 'float32', shape: [C, C], data: c.cov } }),
  );
  const clusters = await putJson(store, `${c.dir}/clusters.json`, {
    kind: 'chrysalis-clusters',
    version: 1,
    key: c.key,
    subsets,
    subsetNames: subsets.map((s) => s.map((k) => ds.classNames[k]!)),
    classNames: ds.classNames,
    covariance,
    examples: c.examples,
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
  return { covariance, clusters };
}
