/**
 * Soft targets in the store: every teacher member's logits on the transfer set (or its views), and the stored object
 * and manifest in the run's format, the same bytes whether computed in one activity or assembled from blocks
 * (activities/soft-target-blocks.ts).
 */
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import type { ArtifactRef } from '../storage/artifact-store';
import { encodeTensors } from '../storage/tensor-codec';
import { predictLogits } from '../ml/evaluate';
import { encodeSoftTargets, storedMembers } from '../ml/soft-targets';
import { VIEW_RULE, viewImages } from '../ml/views';
import type { ViewSpec } from '../ml/views';
import { membersOf } from '../common/soft-target-blocks';
import { topKProblem } from '../common/soft-target-format';
import { keys, loadModelNet, loadPlan } from './models';
import { datasetFor, datasetWithRows } from '../data/sources';
import type { DataAccess } from '../data/sources';
import type { Logger } from '../config/logger';
import { invalidInput } from '../data/input-failures';
import { importedLogits } from './imported-teachers';
import type { DataPlanRef, SoftTargetParts, SoftTargetsRef } from '../contracts/exchange';
import type { SoftTargetsRequest, TeacherMember } from '../contracts/exchange';

/** What reading a plan's data and storing soft targets needs. */
export type SoftTargetDeps = DataAccess & { store: ArtifactStore; logger: Pick<Logger, 'info'> };

type Data = Awaited<ReturnType<typeof datasetFor>>;

/**
 * One member's float32 logits (range.count × C) on the given transfer examples, or with `views` on the view rows
 * [start, start + count) of the transfer examples (ml/views.ts): each teacher runs on exactly the shifted image a
 * student will see for that row.
 */
export async function memberLogits(
  store: ArtifactStore,
  member: TeacherMember,
  ds: Data,
  transfer: Int32Array,
  /** `firstRow`: where the range's first row lies in the whole transfer set (its views' rows). @default start */
  range: BlockRange = { start: 0, count: transfer.length },
  views?: ViewSpec,
  /** Where transfer example i lies in `ds.train` (a sharded block's own rows). @default transfer[i] */
  position?: (i: number) => number,
): Promise<Float32Array> {
  const firstRow = range.firstRow ?? range.start;
  if (views) {
    if ('imported' in member && member.imported.kind === 'npy')
      throw invalidInput(`${member.imported.field}: an .npy teacher has no views (transfer.views 1)`);
    const images = viewImages(ds.train.images, ds.shape, transfer, views, range, position);
    const rows = Int32Array.from({ length: range.count }, (_, i) => i);
    return rowLogits(store, member, { ...ds, train: { ...ds.train, images } }, rows, firstRow);
  }
  const indices = transfer.subarray(range.start, range.start + range.count);
  if ('imported' in member && member.imported.kind === 'npy') {
    // A .npy teacher is its rows for the whole transfer set, checked whole: read it all, keep the block's rows.
    const all = await importedLogits(store, member.imported, ds, transfer);
    const C = ds.numClasses;
    return all.slice(range.start * C, (range.start + range.count) * C);
  }
  return rowLogits(store, member, ds, indices, firstRow);
}

/** A model's logits on `ds.train` at `indices`, the rows from `firstRow` on of the transfer set (or its views). */
async function rowLogits(
  store: ArtifactStore,
  member: TeacherMember,
  ds: Data,
  indices: Int32Array,
  firstRow: number,
): Promise<Float32Array> {
  if ('imported' in member) return importedLogits(store, member.imported, ds, indices, firstRow);
  const net = await loadModelNet(store, member.model);
  try {
    return await predictLogits(net, ds.train.images, ds.shape, indices, firstRow);
  } finally {
    net.dispose();
  }
}

/** The data set and transfer indices of a request, after the format's k is checked against the classes. */
export async function softTargetInputs(
  deps: SoftTargetDeps,
  req: Pick<SoftTargetsRequest, 'data' | 'format'>,
): Promise<{ ds: Data; transfer: Int32Array }> {
  const ds = await datasetFor(req.data, deps);
  const badK = topKProblem(req.format?.topK, ds.numClasses, req.data.dataset);
  if (badK) throw invalidInput(`softTargets.topK: ${badK}`);
  return { ds, transfer: (await loadPlan(deps.store, req.data.plan)).transfer };
}

/**
 * A block's data: of a sharded dataset only the block's examples (read a shard at a time), so a worker's memory
 * is one block's whatever the dataset's size; else the dataset as it is. A .npy teacher is checked whole.
 */
export async function blockInputs(deps: SoftTargetDeps, req: BlockRequest): Promise<BlockInputs> {
  const { store } = deps;
  const { transfer } = await loadPlan(store, req.data.plan);
  const K = req.data.views?.count ?? 1;
  const rows = transfer.length * K;
  if (req.start < 0 || req.count < 0 || req.start + req.count > rows)
    throw invalidInput(`block ${req.block}: rows ${req.start}+${req.count} past ${rows}`);
  const whole = !req.data.shards || ('imported' in req.teacher && req.teacher.imported.kind === 'npy');
  if (whole) return { ds: await datasetFor(req.data, deps), transfer, range: req };
  // The block's examples (with views: those its rows are views of), read a shard at a time.
  const [first, end] = [Math.floor(req.start / K), Math.ceil((req.start + req.count) / K)];
  const mine = transfer.subarray(first, end);
  const { ds, rows: local } = await datasetWithRows(req.data, deps, mine, { test: false });
  if (!req.data.views) return { ds, transfer: local, range: { start: 0, count: req.count, firstRow: req.start } };
  // Views are named by the dataset index (the global transfer indices), their pixels read from the block's rows.
  const range = { start: req.start - first * K, count: req.count, firstRow: req.start };
  return { ds, transfer: mine, range, position: (i) => i };
}

/** Rows start..start+count of a block's transfer indices; `firstRow` their place in the whole transfer set. */
interface BlockRange {
  start: number;
  count: number;
  firstRow?: number;
}

export interface BlockInputs {
  ds: Data;
  transfer: Int32Array;
  range: BlockRange;
  position?: (i: number) => number;
}

/** Encodes every member's logits (members × n × C, member-major) in the format and stores them + the manifest. */
export async function storeSoftTargets(
  deps: SoftTargetDeps,
  req: SoftTargetsRequest,
  all: Float32Array,
  shape: { n: number; C: number; inferenceSeconds: number },
): Promise<SoftTargetsRef> {
  const { n, C } = shape;
  const members = membersOf(req).length;
  const perMember = Array.from({ length: members }, (_, m) => all.subarray(m * n * C, (m + 1) * n * C));
  const tensors = encodeSoftTargets(perMember, n, C, req.format);
  const stored = storedMembers(tensors);
  const logits = await deps.store.put(`${keys.softTargets(req.key)}/logits.cht`, encodeTensors(tensors));
  return storeSoftTargetsManifest(deps, req, { ...shape, logits, stored });
}

/**
 * Writes the manifest of stored soft targets (written last: with it present they are complete) and returns their
 * reference. `logits` is the tensor file, or with `parts` the index of the part files.
 */
export async function storeSoftTargetsManifest(
  deps: SoftTargetDeps,
  req: SoftTargetsRequest,
  stored: {
    logits: ArtifactRef;
    stored: number;
    n: number;
    C: number;
    inferenceSeconds: number;
    parts?: SoftTargetParts;
  },
): Promise<SoftTargetsRef> {
  const { store } = deps;
  const { logits, n, C, inferenceSeconds } = stored;
  const imported = req.imported ?? [];
  const format = req.format ? { format: req.format } : {};
  const parts = stored.parts ? { parts: stored.parts } : {};
  const manifest = await putJson(store, `${keys.softTargets(req.key)}/manifest.json`, {
    kind: 'chrysalis-soft-targets',
    version: 1,
    key: req.key,
    logits,
    ...parts,
    members: stored.stored,
    n,
    numClasses: C,
    ...format,
    provenance: {
      teachers: [
        ...req.teachers.map((t) => ({ digest: t.digest, weightsSha256: t.weights.sha256 })),
        ...imported.map((t) => ({
          digest: t.digest,
          import: t.kind,
          sha256: t.sha256,
          outputs: t.outputs,
          // Said where the logits are: for these teachers the temperature divides log-probabilities.
          ...(t.outputs === 'logits' ? {} : { stored: 'log-probabilities (T acts on log-probabilities)' }),
        })),
      ],
      dataset: req.data.dataset,
      datasetDigest: req.data.datasetDigest,
      planDigest: req.data.planDigest,
      transferIndices: 'data plan "transfer" split',
      ...(req.data.views
        ? {
            views: {
              count: req.data.views.count,
              jitter: req.data.views.jitter,
              rule: VIEW_RULE,
              rows: 'example-major: row i*K + v is view v of transfer example i',
            },
          }
        : {}),
    },
  });
  const bytes = stored.parts?.bytes ?? logits.bytes;
  const bytesPerExample = n > 0 ? bytes / n : 0;
  deps.logger.info(
    { key: req.key, members: stored.stored, n, ...format, ...parts, bytesPerExample },
    'soft targets (teacher logits) stored',
  );
  return {
    key: req.key,
    logits,
    manifest,
    members: stored.stored,
    n,
    numClasses: C,
    inferenceSeconds,
    ...format,
    ...parts,
  };
}

/** One (teacher, block) job: which member, which examples of the transfer set. */
export interface BlockRequest {
  key: string;
  data: DataPlanRef;
  teacher: TeacherMember;
  member: number;
  block: number;
  start: number;
  count: number;
}
