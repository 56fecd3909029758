/**
 * Compute-queue activities of the specialists pipeline (paper §5): cluster the generalist's confusions
 * (specialists-clustering.ts), train one specialist per subset (specialists-training.ts), and evaluate, store as
 * soft targets and export the KL-minimising combination (specialists-combination.ts).
 *
 * The pipeline-queue activities are in specialists-pipeline.ts, the types that travel through Temporal in
 * specialists-types.ts (re-exported here).
 */
import type { ComputeDeps } from './compute';
import { mapFailures } from './failures';
import { clusterConfusions } from './specialists-clustering';
import { computeCombinedSoftTargets, evaluateCombination, exportCombination } from './specialists-combination';
import { trainSpecialist } from './specialists-training';

export type * from './specialists-types';

export function createSpecialistsComputeActivities(deps: ComputeDeps) {
  /** Each activity with the worker's dependencies bound and its failures mapped to typed ones. */
  const bind = <Req, Res>(name: string, fn: (deps: ComputeDeps, req: Req) => Promise<Res>) =>
    mapFailures(name, (req: Req) => fn(deps, req));
  return {
    clusterConfusions: bind('clusterConfusions', clusterConfusions),
    exportCombination: bind('exportCombination', exportCombination),
    trainSpecialist: bind('trainSpecialist', trainSpecialist),
    evaluateCombination: bind('evaluateCombination', evaluateCombination),
    computeCombinedSoftTargets: bind('computeCombinedSoftTargets', computeCombinedSoftTargets),
  };
}

export type SpecialistsComputeActivities = ReturnType<typeof createSpecialistsComputeActivities>;
