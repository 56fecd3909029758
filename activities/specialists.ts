/**
 * Compute-queue activities of the specialists pipeline (paper §5): cluster the generalist's confusions
 * (specialists-clustering.ts), train one specialist per subset (specialists-training.ts), and evaluate, store as
 * soft targets and export the KL-minimising combination (specialists-combination.ts).
 *
 * The pipeline-queue activities are in specialists-pipeline.ts, the types that travel through Temporal in
 * contracts/specialists.ts (re-exported here).
 */
import type { ComputeDeps } from './compute-deps';
import { bindActivities } from './failures';
import { clusterConfusions } from './specialists-clustering';
import { computeCombinedSoftTargets, evaluateCombination, exportCombination } from './specialists-combination';
import { trainSpecialist } from './specialists-training';

export type * from '../contracts/specialists';

/** Each activity with the worker's dependencies bound and its failures mapped to typed ones. */
export function createSpecialistsComputeActivities(deps: ComputeDeps) {
  return bindActivities(deps, {
    clusterConfusions,
    exportCombination,
    trainSpecialist,
    evaluateCombination,
    computeCombinedSoftTargets,
  });
}

export type SpecialistsComputeActivities = ReturnType<typeof createSpecialistsComputeActivities>;
