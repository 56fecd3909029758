/**
 * Pipeline-queue activities: light work the workflow needs done outside its sandbox — validation at
 * the boundary, cache look-ups (hashing), and writing reports.
 */
import type { ArtifactStore } from '../storage/artifact-store';
import { getJson } from '../storage/artifact-store';
import type { Logger } from '../config/logger';
import type { ModelLimits } from '../config/model-size';
import { resolveDistillationInput, resolveSearchInput, resolveSmokeInput } from '../config/resolve';
import type { Resolved } from '../config/resolve';
import type { ValidatedInput } from '../contracts/exchange';
import type { DistillationConfig, ModelRefInput, SmokeConfig } from '../config/schemas';
import type { SearchConfig } from '../config/search';
import { renderSearchReport } from '../reports/search-markdown';
import type { SearchReport } from '../reports/search-markdown';
import { renderSearchCharts, searchChartInputs } from '../reports/search-charts';
import { findModel, keys, modelAt } from '../artifacts/models';
import { dataKeys, requireExisting, teacherKeys } from '../artifacts/input-keys';
import { modelDigest, softTargetsKey } from '../artifacts/digests';
import { bindActivities, invalidInput, invalidInputIssues } from './failures';
import { distillationChartInputs, renderDistillationReport, trainingCurves } from '../artifacts/report-inputs';
import type { DistillationReport } from '../artifacts/report-inputs';
import { storeReport } from '../artifacts/report-files';
import type { StoredReport } from '../contracts/exchange';
import type { ImportedTeacherRef } from '../contracts/exchange';
import type { ModelRef, SoftTargetsRef, TrainRequest } from '../contracts/exchange';
import type { SoftTargetFormat } from '../common/soft-target-format';

export interface PipelineDeps {
  store: ArtifactStore;
  logger: Logger;
  /** Model-size limits checked at validation. @default DEFAULT_MODEL_LIMITS */
  limits?: ModelLimits;
}

export function orFail<T>(r: Resolved<T>): ValidatedInput<T> {
  if (r.ok) return { config: r.config, options: r.options };
  throw invalidInputIssues(r.issues);
}

async function validateDistillationInput(
  deps: PipelineDeps,
  raw: unknown,
): Promise<ValidatedInput<DistillationConfig>> {
  const v = orFail(resolveDistillationInput(raw, { limits: deps.limits }));
  await requireExisting(deps.store, teacherKeys(v.config));
  return v;
}

/** The student search's whole input, checked like a distillation run's. */
async function validateSearchInput(deps: PipelineDeps, raw: unknown): Promise<ValidatedInput<SearchConfig>> {
  const v = orFail(resolveSearchInput(raw, { limits: deps.limits }));
  await requireExisting(deps.store, teacherKeys(v.config));
  return v;
}

async function validateSmokeInput(deps: PipelineDeps, raw: unknown): Promise<ValidatedInput<SmokeConfig>> {
  const { store } = deps;
  const v = orFail(resolveSmokeInput(raw, { limits: deps.limits }));
  await requireExisting(store, dataKeys(v.config.data));
  return v;
}

/** Resolves user-given model refs to verified, published models. */
async function resolveModelRefs(deps: PipelineDeps, refs: ModelRefInput[]): Promise<ModelRef[]> {
  const { store } = deps;
  return Promise.all(
    refs.map(async (r, i) => {
      const model = await modelAt(store, r.manifestKey);
      if (!model)
        throw invalidInput(`teachers.refs.${i}.manifestKey: not found: no model manifest at "${r.manifestKey}"`);
      return model;
    }),
  );
}

/**
 * The soft-target cache key for these teachers and transfer set, and the cached entry if present.
 * Teachers are identified by their recipe digest (or given weights' digest, or an import's digest), known
 * before training.
 */
async function lookupSoftTargets(
  deps: PipelineDeps,
  req: {
    /** Imported teachers' digests cover their content and how their outputs are read. */
    teachers: Omit<TrainRequest, 'name' | 'role'>[] | ModelRef[] | ImportedTeacherRef[];
    planDigest: string;
    key?: string;
    /** The storage format asked for; part of the key. @default full float32 */
    format?: SoftTargetFormat;
  },
): Promise<{ key: string; teacherDigests: string[]; found: SoftTargetsRef | null }> {
  const { store } = deps;
  const teacherDigests = req.teachers.map((t) => ('digest' in t ? t.digest : modelDigest(t)));
  const key = req.key ?? softTargetsKey(req.planDigest, teacherDigests, req.format);
  const manifestRef = await store.stat(`${keys.softTargets(key)}/manifest.json`);
  if (!manifestRef) {
    deps.logger.info({ key }, 'soft-target cache miss');
    return { key, teacherDigests, found: null };
  }
  const m = await getJson<{
    logits: SoftTargetsRef['logits'];
    parts?: SoftTargetsRef['parts'];
    members: number;
    n: number;
    numClasses: number;
    format?: SoftTargetFormat;
    provenance?: { planDigest?: string };
  }>(store, manifestRef);
  if (req.key !== undefined && m.provenance?.planDigest !== undefined && m.provenance.planDigest !== req.planDigest) {
    throw invalidInput(
      `teachers.softTargets.key: soft targets "${key}" were computed for data plan ${m.provenance.planDigest}, ` +
        `not this run's ${req.planDigest} (dataset, validation split, seed and transfer set must match)`,
    );
  }
  deps.logger.info({ key }, 'soft-target cache hit: no teacher will run');
  return {
    key,
    teacherDigests,
    found: {
      key,
      logits: m.logits,
      manifest: manifestRef,
      members: m.members,
      n: m.n,
      numClasses: m.numClasses,
      ...(m.format ? { format: m.format } : {}),
      ...(m.parts ? { parts: m.parts } : {}),
    },
  };
}

/** Published teacher models for these recipe digests (after a cache hit, for evaluation). */
async function findModels(deps: PipelineDeps, digests: string[]): Promise<(ModelRef | null)[]> {
  const { store } = deps;
  return Promise.all(digests.map(async (d) => (await findModel(store, d)) ?? null));
}

/** JSON, Markdown, and a self-contained HTML page with charts (PNG + SVG stored beside it). */
async function writeReport(deps: PipelineDeps, report: DistillationReport): Promise<StoredReport> {
  const { store } = deps;
  return storeReport(store, report, { markdown: renderDistillationReport, charts: distillationChartInputs });
}

/** The search report: the front chart beside training curves of the candidates on the front. */
async function writeSearchReport(deps: PipelineDeps, report: SearchReport): Promise<StoredReport> {
  const front = report.candidates.filter((c) => c.onFront);
  return storeReport(deps.store, report, {
    markdown: renderSearchReport,
    charts: async (store, r) => ({ title: r.workflowId, curves: await trainingCurves(store, front) }),
    moreCharts: async (r) => renderSearchCharts(searchChartInputs(r)),
  });
}

/** The pipeline-queue activities, each wrapped so its typed errors reach Temporal as named failures. */
export function createPipelineActivities(deps: PipelineDeps) {
  return bindActivities(deps, {
    validateDistillationInput,
    validateSmokeInput,
    validateSearchInput,
    resolveModelRefs,
    lookupSoftTargets,
    findModels,
    writeReport,
    writeSearchReport,
  });
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
