/**
 * The teacher-import activity: artifacts/imported-teachers.ts fetches, probes and stores each import; this adapter
 * heartbeats while a download waits and maps failures (activities/compute.ts binds it).
 */
import type { TeacherImport } from '../config/schemas';
import { importTeachers as importAll } from '../artifacts/imported-teachers';
import type { ImportDeps } from '../artifacts/import-files';
import type { DataPlanRef, ImportedTeacherRef } from '../contracts/exchange';
import { activityHeartbeat } from './durable-training';

export type { ImportedTeacherRef } from '../contracts/exchange';
export type { ImportDeps } from '../artifacts/import-files';

/** Fetches, probes and stores every import (in order), for one data plan. */
async function importTeachers(
  deps: ImportDeps,
  req: { imports: TeacherImport[]; data: DataPlanRef },
): Promise<{ teachers: ImportedTeacherRef[]; probed: number }> {
  return importAll({ ...deps, heartbeat: activityHeartbeat }, req);
}

export const teacherImportActivities = { importTeachers };
