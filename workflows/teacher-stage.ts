/**
 * The teacher stage shared by the pipelines that distil: soft targets from the cache, from given
 * models or stored soft targets, from teachers imported from outside, or from teachers trained here in
 * parallel. Workflow code.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { ActivityOptions, proxyActivities } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { PipelineActivities } from '../activities/pipeline';
import type { ModelOutcome } from '../reports/distillation-markdown';
import type { ImportedTeacherRef } from '../activities/teacher-import';
import type { ScoredModel, SoftTargetsRequest } from '../activities/teacher-requests';
import type { DataPlanRef, ModelRef, SoftTargetsRef, TrainRequest, TrainResult } from '../contracts/exchange';
import type { DistillationConfig, TeacherImport } from '../config/schemas';
import { FailureType, invalidInputMessage } from '../common/failure-types';
import { softTargetFormat, topKProblem } from '../common/soft-target-format';
import type { SoftTargetFormat, SoftTargetsConfig } from '../common/soft-target-format';
import { DEFAULT_BLOCK_SIZE } from '../common/soft-target-blocks';
import { trainingSeed } from '../common/seeds';
import { describeTraining } from './options';
import { fanOutSoftTargets } from './soft-target-fanout';
import type { ProgressTracker } from './progress';

/** One run's fixed context: the config's teacher part, data plan, progress and the activity proxies. */
export interface PipelineRun<C extends Pick<DistillationConfig, 'teachers' | 'seed'> = DistillationConfig> {
  cfg: C;
  data: DataPlanRef;
  progress: ProgressTracker;
  light: ReturnType<typeof proxyActivities<PipelineActivities>>;
  compute: ReturnType<typeof proxyActivities<ComputeActivities>>;
  computeOptions: ActivityOptions;
}

/** A model to evaluate and report (trained here, given, or an imported teacher), with how it was trained. */
export type ToEvaluate = ScoredModel & {
  name: string;
  role: ModelOutcome['role'];
  training?: TrainResult;
  epochs?: number;
  temperature?: number;
  alpha?: number;
};

/** A teacher that cannot be scored on the test set (an imported `.npy`), and why, for the report. */
export interface NotEvaluated {
  name: string;
  /** The config field it came from, e.g. "teachers.import.2". */
  field: string;
  reason: string;
}

/** What the teacher stage gives the pipeline: soft targets, and the teachers to score beside the students. */
export interface TeacherStageResult {
  soft: SoftTargetsRef;
  cacheHit: boolean;
  toEvaluate: ToEvaluate[];
  /** @default [] */
  notEvaluated?: NotEvaluated[];
}

type TeacherRun = PipelineRun<Pick<DistillationConfig, 'teachers' | 'seed'> & SoftTargetsConfig>;

/**
 * The storage format the config asks for, as request fields: none for the default, so those requests (and the
 * histories that recorded them) are unchanged. A k past the data's classes fails here, before any teacher trains.
 */
function formatFields({ cfg, data }: TeacherRun): { format?: SoftTargetFormat } {
  const format = softTargetFormat(cfg);
  const badK = topKProblem(format?.topK, data.numClasses, data.dataset);
  if (badK)
    throw ApplicationFailure.create({
      message: invalidInputMessage(`softTargets.topK: ${badK}`),
      type: FailureType.InvalidInput,
      nonRetryable: true,
    });
  return format ? { format } : {};
}

/** Runs one training activity, tracked in the progress query under its name. */
export function trainModel(
  run: Pick<PipelineRun, 'progress' | 'compute' | 'computeOptions'>,
  r: TrainRequest,
): Promise<TrainResult> {
  const summary = describeTraining(r);
  return run.progress.track(r.name, run.compute.trainModel.executeWithOptions({ ...run.computeOptions, summary }, [r]));
}

/** Teacher recipes of a `teachers: { count, … }` config; none for given models or soft targets. */
function teacherRecipes({ cfg, data }: TeacherRun): TrainRequest[] {
  const t = cfg.teachers;
  if (!('count' in t)) return [];
  return Array.from({ length: t.count }, (_, i) => ({
    name: `teacher-${i + 1}`,
    role: 'teacher' as const,
    data,
    split: 'train' as const,
    spec: t.model,
    train: t.train,
    seed: trainingSeed(cfg.seed, 'teacher', i),
  }));
}

/**
 * Soft targets: found in the cache (keyed before any teacher trains), or computed from teachers
 * trained here (in parallel) or given. Also returns the teachers to evaluate.
 */
export async function teacherStage(run: TeacherRun): Promise<TeacherStageResult> {
  const { cfg, data, progress, light } = run;
  // Only `import` configs take this branch: histories of the other kinds replay unchanged.
  if ('import' in cfg.teachers) return importedTeacherStage(run, cfg.teachers.import);
  const recipes = teacherRecipes(run);
  const format = formatFields(run);
  const given: ModelRef[] = 'refs' in cfg.teachers ? await light.resolveModelRefs(cfg.teachers.refs) : [];
  const givenKey = 'softTargets' in cfg.teachers ? cfg.teachers.softTargets.key : undefined;
  const lookup = await progress.stage('soft-target-cache', () =>
    light.lookupSoftTargets({
      teachers: given.length > 0 ? given : recipes.map(({ name: _n, role: _r, ...recipe }) => recipe),
      planDigest: data.planDigest,
      ...(givenKey !== undefined ? { key: givenKey } : {}),
      ...format,
    }),
  );
  if (givenKey !== undefined && !lookup.found)
    throw ApplicationFailure.create({
      message: `teachers.softTargets.key: not found: no stored soft targets "${givenKey}"`,
      type: FailureType.InvalidInput,
      nonRetryable: true,
    });

  if (lookup.found) {
    const stored = recipes.length > 0 ? await light.findModels(lookup.teacherDigests) : given;
    return { soft: lookup.found, cacheHit: true, toEvaluate: teachersToEvaluate(recipes, stored, []) };
  }
  let teachers: ModelRef[] = given;
  let results: TrainResult[] = [];
  if (recipes.length > 0) {
    recipes.forEach((r) => progress.model(r.name, 'teacher', r.train.epochs));
    results = await progress.stage('teachers', () => Promise.all(recipes.map((r) => trainModel(run, r))));
    teachers = results.map((r) => r.model);
  }
  const n = teachers.length;
  const teachersText = `${n} teacher${n === 1 ? '' : 's'}`;
  const summary = `soft targets: logits of ${teachersText} on ${data.counts.transfer} transfer examples`;
  const soft = await softTargets(run, { key: lookup.key, data, teachers, ...format }, summary);
  return { soft, cacheHit: false, toEvaluate: teachersToEvaluate(recipes, teachers, results) };
}

/**
 * Teachers from outside: fetched, stored and probed (shapes checked) first, then the soft-target cache keyed by
 * their digests, then their logits on the transfer set. SavedModel and tfjs teachers are scored on the test set
 * like trained ones, cache hit or not; an `.npy` has no model and is reported as not scored.
 */
async function importedTeacherStage(run: TeacherRun, imports: TeacherImport[]): Promise<TeacherStageResult> {
  const { data, progress, light, compute } = run;
  const format = formatFields(run);
  const n = imports.length;
  const summary = `import ${n} teacher${n === 1 ? '' : 's'} (${imports.map((i) => i.kind).join(', ')}): fetch, probe`;
  const { teachers } = await progress.stage('teacher-import', () =>
    compute.importTeachers.executeWithOptions({ ...run.computeOptions, summary }, [{ imports, data }]),
  );
  // Runs recorded before imported teachers were scored go on without their evaluations (and ensemble).
  const scored = patched('imported-teacher-eval') ? importedToEvaluate(teachers) : { toEvaluate: [] };
  const lookup = await progress.stage('soft-target-cache', () =>
    light.lookupSoftTargets({ teachers, planDigest: data.planDigest, ...format }),
  );
  if (lookup.found) return { soft: lookup.found, cacheHit: true, ...scored };
  const softSummary =
    `soft targets: logits of ${n} imported teacher${n === 1 ? '' : 's'} ` +
    `on ${data.counts.transfer} transfer examples`;
  const req = { key: lookup.key, data, teachers: [], imported: teachers, ...format };
  const soft = await softTargets(run, req, softSummary);
  return { soft, cacheHit: false, ...scored };
}

/** What an imported teacher is called: its place in the config, kind and content, e.g. "teacher-1 (tfjs 1a2b3c4d)". */
export function importedTeacherName(ref: Pick<ImportedTeacherRef, 'kind' | 'sha256'>, index: number): string {
  return `teacher-${index + 1} (${ref.kind} ${ref.sha256.slice(0, 8)})`;
}

function importedToEvaluate(refs: ImportedTeacherRef[]): Pick<TeacherStageResult, 'toEvaluate' | 'notEvaluated'> {
  const named = refs.map((imported, i) => ({ name: importedTeacherName(imported, i), imported }));
  return {
    toEvaluate: named.filter((t) => t.imported.kind !== 'npy').map((t) => ({ ...t, role: 'teacher' as const })),
    notEvaluated: named
      .filter((t) => t.imported.kind === 'npy')
      .map((t) => ({
        name: t.name,
        field: t.imported.field,
        reason: 'precomputed logits of the transfer set (.npy): no model to run on the test set',
      })),
  };
}

/**
 * The teachers' logits on the transfer set: fanned out per (teacher, block) since 'fanout-soft-targets';
 * histories from before it ran one activity for everything, and replay that way.
 */
function softTargets(run: TeacherRun, req: SoftTargetsRequest, summary: string): Promise<SoftTargetsRef> {
  const { compute, computeOptions, progress } = run;
  return progress.stage('soft-targets', () => {
    if (!patched('fanout-soft-targets'))
      return compute.computeSoftTargets.executeWithOptions({ ...computeOptions, summary }, [req]);
    const blockSize = run.cfg.softTargets?.blockSize ?? DEFAULT_BLOCK_SIZE;
    return fanOutSoftTargets(run, req, { blockSize, summary });
  });
}

function teachersToEvaluate(
  recipes: TrainRequest[],
  models: (ModelRef | null)[],
  results: TrainResult[],
): ToEvaluate[] {
  return models.flatMap((m, i) => {
    if (!m) return [];
    const trained = results[i] ? { training: results[i], epochs: recipes[i]!.train.epochs } : {};
    return [{ name: recipes[i]?.name ?? `teacher-${i + 1}`, role: 'teacher' as const, model: m, ...trained }];
  });
}
