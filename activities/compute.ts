/**
 * The compute-queue activities: the registry workers/compute-worker.ts registers. Each group's adapter is a file of
 * its own (training.ts, evaluation.ts, soft-target-blocks.ts, model-cost.ts, teacher-import.ts, student-import.ts);
 * the activities that need no heartbeat (prepareData, exportModel, evaluateExport) are bound from artifacts/. Long
 * ones heartbeat, checkpoint to the store, resume from the newest checkpoint on retry, and stop on cancellation
 * between batches. Names are the activity types recorded in workflow histories: never rename one.
 */
import { prepareData } from '../artifacts/data-plans';
import { evaluateExport, exportModel } from '../artifacts/exports';
import type { ComputeDeps } from './compute-deps';
import { evaluateEnsemble, evaluateModel } from './evaluation';
import { bindActivities } from './failures';
import { modelCostActivities } from './model-cost';
import { computeSoftTargets, softTargetBlockActivities } from './soft-target-blocks';
import { studentImportActivities } from './student-import';
import { teacherImportActivities } from './teacher-import';
import { trainModel } from './training';

export type { ExportedFiles, ExportEvaluation } from '../artifacts/exports';

/** The compute-queue activities, each wrapped so its typed errors reach Temporal as named failures. */
export function createComputeActivities(deps: ComputeDeps) {
  return bindActivities(deps, {
    exportModel,
    evaluateExport,
    prepareData,
    trainModel,
    computeSoftTargets,
    ...softTargetBlockActivities,
    evaluateModel,
    evaluateEnsemble,
    ...modelCostActivities,
    ...teacherImportActivities,
    ...studentImportActivities,
  });
}

export type ComputeActivities = ReturnType<typeof createComputeActivities>;
