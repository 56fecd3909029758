/**
 * The student-import activity: artifacts/student-models.ts fetches, builds, sizes and stores a layers student's
 * model.json; this adapter heartbeats while a download waits (activities/compute.ts binds it and maps failures).
 */
import { importStudent as importLayersStudent } from '../artifacts/student-models';
import type { ImportedLayersSpec, ImportStudentRequest, StudentImportDeps } from '../artifacts/student-models';
import { activityHeartbeat } from './durable-training';

export type { ImportedLayersSpec, ImportStudentRequest, StudentImportDeps } from '../artifacts/student-models';

/** Fetches, checks and stores a layers student for one data plan; returns its spec with the sha256. */
async function importStudent(
  deps: StudentImportDeps,
  req: ImportStudentRequest,
): Promise<{ spec: ImportedLayersSpec; parameters: number }> {
  return importLayersStudent({ ...deps, heartbeat: activityHeartbeat }, req);
}

export const studentImportActivities = { importStudent };
