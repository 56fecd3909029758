/**
 * Content digests that name trained artifacts. Training is deterministic for a given recipe, so the
 * recipe's digest names the weights before they exist: that is what lets a run find cached teachers
 * and soft targets without training anything.
 */
import { digestOf } from '../storage/hash';
import type { SoftTargetFormat } from '../common/soft-target-format';
import type { ClusterRequest, CombineSpec, SpecialistModel, SpecialistRequest } from '../contracts/specialists';
import type { ModelRef, TrainRequest } from '../contracts/exchange';

/** The recipe's digest; `stopAfterEpoch` and the name are not in it (every stop is a prefix of one run). */
export function modelDigest(req: Pick<TrainRequest, 'data' | 'split' | 'spec' | 'train' | 'seed' | 'distill'>): string {
  return digestOf({
    v: 1,
    // Teachers depend on the training split only; students also on the transfer rule.
    data: req.split === 'train' ? req.data.trainDigest : req.data.planDigest,
    split: req.split,
    // The order a sharded run trains in depends on the layout; absent (unsharded) keeps earlier digests.
    ...(req.data.shards ? { stream: { size: req.data.shards.size, window: req.data.shards.window ?? 'all' } } : {}),
    spec: digestSpec(req.spec),
    train: req.train,
    seed: req.seed,
    distill: req.distill
      ? {
          softTargets: req.distill.softTargets.key,
          T: req.distill.temperature,
          alpha: req.distill.alpha,
          ensemble: req.distill.ensemble,
          // Absent for stored soft targets, so their students keep their digests.
          ...(req.distill.online ? { online: req.distill.online.teachers.map((t) => t.digest) } : {}),
        }
      : null,
  });
}

/**
 * A layers topology is named by its bytes alone (the sha256 importStudent filled in), not by where it was read
 * from: the same file under another path is the same student. Built-in specs are digested as they are.
 */
function digestSpec(spec: TrainRequest['spec']): unknown {
  if (spec.kind !== 'layers') return spec;
  if (!spec.sha256) throw new Error(`layers spec ${spec.topology} has no sha256: importStudent fetches it first`);
  return { kind: 'layers', sha256: spec.sha256 };
}

/** The epoch a request stops after, or undefined when it trains the whole recipe. */
export function partialEpoch(req: { train: { epochs: number }; stopAfterEpoch?: number }): number | undefined {
  const stop = req.stopAfterEpoch;
  return stop !== undefined && stop < req.train.epochs ? stop : undefined;
}

/** Names the weights after the first `epoch` epochs of the recipe `digest` (a partial model). */
export function partialModelDigest(digest: string, epoch: number): string {
  return digestOf({ v: 1, kind: 'partial', model: digest, epoch });
}

/**
 * Names the soft targets of these teachers on a plan's transfer set, in a storage format: the default (full
 * float32) adds nothing, so earlier runs' keys stand; any other format is a different key, so a top-5 set is never
 * served to a full-precision request.
 */
export function softTargetsKey(
  planDigest: string,
  teacherDigests: readonly string[],
  format?: SoftTargetFormat,
): string {
  return digestOf({ v: 1, plan: planDigest, teachers: teacherDigests, ...(format ? { format } : {}) }, 24);
}

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

/** Names the confusable subsets of one generalist on one split, before clustering runs. */
export function clustersKey(req: ClusterRequest): string {
  return digestOf({
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
}

/** Names a combination's soft targets on one data plan's transfer set. */
export function combinedSoftTargetsKey(planDigest: string, combination: string): string {
  return digestOf({ v: 1, kind: 'combined-soft-targets', plan: planDigest, combination }, 24);
}
