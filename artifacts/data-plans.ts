/**
 * A run's data plan: the dataset loaded and checked against the transfer rule, its split into train, validation and
 * transfer examples stored under a digest that names everything that chose them (and the views, if any), and the
 * dataset written as shards when the config asks for them. prepareData is the activity (activities/compute.ts).
 */
import type { ArtifactStore } from '../storage/artifact-store';
import { digestOf } from '../storage/hash';
import type { Logger } from '../config/logger';
import { DEFAULT_VIEW_JITTER, transferClassIssues, viewIssues } from '../config/schemas';
import type { DataSpec, TransferSpec } from '../config/schemas';
import type { DataPlanRef } from '../contracts/exchange';
import { makePlan, planWarnings } from '../ml/splits';
import { VIEW_RULE } from '../ml/views';
import { invalidInput, invalidInputIssues } from '../data/input-failures';
import { writeShards } from '../data/shards';
import { loadSource } from '../data/sources';
import type { DataAccess } from '../data/sources';
import { savePlan } from './models';

/** A config of a table run with this transfer rule and nothing else, for {@link viewIssues}. */
const tableOnly = (transfer: TransferSpec) => ({
  data: { dataset: 'csv' },
  transfer,
  teachers: {},
  student: { train: { jitter: 0 } },
  students: [],
});

/** Issues at one config path (dotted). */
export const at =
  (path: string) =>
  (issue: { path: (string | number)[] }): boolean =>
    issue.path.join('.') === path;

export async function prepareData(
  deps: DataAccess & { store: ArtifactStore; logger: Pick<Logger, 'warn'> },
  /** `transferField`: where the config holds the transfer rule, for messages. @default 'transfer' */
  req: { data: DataSpec; transfer: TransferSpec; seed: number; transferField?: string },
): Promise<DataPlanRef> {
  const { store } = deps;
  const ds = await loadSource(req.data, deps);
  const classIssues = transferClassIssues(req.transfer, req.data.dataset, ds.numClasses);
  const field = req.transferField ?? 'transfer';
  if (classIssues.length > 0)
    throw invalidInputIssues(classIssues.map((i) => ({ path: [field, ...i.path].join('.'), message: i.message })));
  const splitSpec = {
    validationSize: req.data.validationSize,
    trainLimit: req.data.trainLimit,
    seed: req.seed,
  };
  const trainDigest = digestOf({
    dataset: ds.digest,
    validationSize: splitSpec.validationSize,
    trainLimit: splitSpec.trainLimit,
    seed: req.seed,
  });
  // Views are rows of the soft targets, not a different choice of examples: the plan's rule is without them.
  const { views, viewJitter, ...rule } = req.transfer;
  // The config's rule (config/schemas.ts viewIssues), asked of the data as loaded: rows of a table take views 1.
  const [tableViews] = ds.features ? viewIssues(tableOnly(req.transfer)).filter(at('transfer.views')) : [];
  if (tableViews) throw invalidInput(`${field}.views: ${tableViews.message}`);
  const viewSpec =
    views !== undefined && views > 1
      ? { count: views, jitter: viewJitter ?? DEFAULT_VIEW_JITTER, seed: req.seed }
      : null;
  // Without views the digest is what it always was; with them it names K, the bound and the shift rule, so the
  // soft-target cache key and the students' digests do too (teachers depend on trainDigest only: reused).
  const planDigest = digestOf({
    trainDigest,
    transfer: rule,
    ...(viewSpec ? { views: { count: viewSpec.count, jitter: viewSpec.jitter, rule: VIEW_RULE } } : {}),
  });
  const plan = makePlan(ds.train.labels, { ...splitSpec, transfer: rule });
  const warnings = planWarnings(ds.train.n, plan, { ...splitSpec, transfer: rule });
  if (warnings.length > 0)
    deps.logger.warn({ warnings, dataset: req.data.dataset }, `data split: ${warnings.join('; ')}`);
  if (ds.ignored) deps.logger.warn({ ignored: ds.ignored, dataset: req.data.dataset }, ds.ignored.join('; '));
  const ref = await savePlan(store, planDigest, plan);
  const shards = req.data.shards && {
    manifest: await writeShards(store, ds, req.data.shards.size),
    size: req.data.shards.size,
    ...(req.data.shards.window !== undefined ? { window: req.data.shards.window } : {}),
  };
  return {
    dataset: req.data.dataset,
    ...(req.data.idx ? { idx: req.data.idx } : {}),
    ...(req.data.images ? { images: req.data.images } : {}),
    ...(req.data.csv ? { csv: req.data.csv } : {}),
    ...(req.data.normalize ? { normalize: req.data.normalize } : {}),
    datasetDigest: ds.digest,
    trainDigest,
    planDigest,
    plan: ref,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    counts: {
      train: plan.train.length,
      validation: plan.validation.length,
      // With views: the rows of the soft targets (examples × views), which the teacher fan-out plans its blocks by.
      transfer: plan.transfer.length * (viewSpec?.count ?? 1),
      test: ds.test.n,
    },
    ...(viewSpec ? { views: { ...viewSpec, examples: plan.transfer.length } } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(ds.ignored ? { ignored: ds.ignored } : {}),
    ...(shards ? { shards } : {}),
  };
}
