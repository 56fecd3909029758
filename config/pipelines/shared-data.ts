/**
 * The data parts of a config every pipeline shares: the dataset and its files, the transfer rule and its views,
 * and their cross-field rules (exported, so the compute activities that load the data apply the same ones).
 */
import { z } from 'zod';
import { DATASET_NAMES, knownClasses } from '../../common/datasets';
import { dataRefSchema, positiveInt } from './shared';

export const datasetSchema = z.enum([...DATASET_NAMES, 'idx', 'images', 'csv']);

/**
 * For `dataset: "images"`: folders of PNG/JPEG files, one sub-folder per class (`<train>/<class>/*.png`),
 * decoded natively and resized to `inputShape`. Without a `test` folder, `testFraction` of each class
 * is held out as the test set (seeded by the run's seed).
 */
export const imageFoldersSchema = z
  .object({
    train: dataRefSchema.refine((r) => !r.startsWith('minio:'), 'a local folder (under a data root)'),
    test: dataRefSchema.refine((r) => !r.startsWith('minio:'), 'a local folder (under a data root)').optional(),
    /** [rows, cols, channels]: every image is resized to rows×cols and read with 1 (grey) or 3 (RGB) channels. */
    inputShape: z.tuple([positiveInt.max(1024), positiveInt.max(1024), z.union([z.literal(1), z.literal(3)])]),
    /** The test share of each class when there is no `test` folder. @default 0.2 */
    testFraction: z.number().gt(0).lt(1).optional(),
  })
  .strict();

/**
 * For `dataset: "csv"`: a table with a header row, numeric feature columns and a label column. Each row is one
 * example (input shape [1, 1, features]: the features are its channels); class names are the label values, in
 * numeric order when all are numbers, else in code-point order. Without a `test` file, `testFraction` of the rows
 * is held out as the test set (by a hash of each row, so every run splits alike).
 */
export const csvTableSchema = z
  .object({
    train: dataRefSchema,
    test: dataRefSchema.optional(),
    /** The label column's name. */
    label: z.string().min(1),
    /** The feature columns, in input order. @default every column but the label */
    features: z
      .array(z.string().min(1))
      .min(1)
      .max(100000)
      .refine((f) => new Set(f).size === f.length, { message: 'each feature column at most once' })
      .optional(),
    /** The test share of the rows when there is no `test` file. @default 0.2 */
    testFraction: z.number().gt(0).lt(1).optional(),
  })
  .strict();

/**
 * How inputs are normalised after pixels are scaled to [0, 1] (a table's features are taken as they are):
 * per channel (x − mean) / std, with values given (one per channel, or one for all) or `"standardize"`: the
 * training split's own per-channel mean and std. Stored with every model, so exports and `predict` apply it.
 */
export const normalizeSchema = z.union([
  z.literal('standardize'),
  z
    .object({
      mean: z.array(z.number().finite()).min(1).max(100000),
      std: z.array(z.number().finite().positive('std must be > 0')).min(1).max(100000),
    })
    .strict(),
]);

/** Files for `dataset: "idx"`: paths on the compute workers, or `minio:<key>` objects in the store. */
export const idxFilesSchema = z
  .object({
    trainImages: dataRefSchema,
    trainLabels: dataRefSchema,
    testImages: dataRefSchema,
    testLabels: dataRefSchema,
    classNames: z.array(z.string().min(1)).min(2).max(1000).optional(),
  })
  .strict();

/** The transfer rules, each with `extra` fields beside its own. */
function transferRules<E extends z.ZodRawShape>(extra: E) {
  return z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('full'), ...extra }).strict(),
    z.object({ kind: z.literal('fraction'), fraction: z.number().gt(0).max(1), ...extra }).strict(),
    z
      .object({ kind: z.literal('excludeClasses'), classes: z.array(z.number().int().min(0)).min(1), ...extra })
      .strict(),
    z.object({ kind: z.literal('onlyClasses'), classes: z.array(z.number().int().min(0)).min(1), ...extra }).strict(),
  ]);
}

/** Which examples of the training split form the transfer set (student search, specialists). */
export const transferSchema = transferRules({});

/**
 * The distillation pipeline's transfer rule, with consistent augmented views (docs/SOFT-TARGETS.md): `views` K
 * fixed shifted copies of each transfer example (view 0 unshifted), the teachers' soft targets computed on each.
 */
export const viewTransferSchema = transferRules({
  /** Views per transfer example, images only. @default 1: the transfer set as it is */
  views: z.number().int('a whole number of views').min(1, 'at least 1 view').max(256).optional(),
  /** The views' largest shift in pixels, with views > 1. @default 2 */
  viewJitter: z.number().int('a whole number of pixels').min(0).max(64).optional(),
});

/** The views' shift bound when the config gives none. */
export const DEFAULT_VIEW_JITTER = 2;

/**
 * Views against the rest of a distillation config: images only, a given viewJitter only with views > 1, and a
 * student that sees exactly the stored views (no jitter of its own, not online). Paths from the config's root.
 */
export function viewIssues(cfg: {
  data: { dataset: string };
  transfer: TransferSpec;
  teachers: object;
  student: { train: { jitter: number } };
  students: readonly { online?: boolean | undefined }[];
}): { path: (string | number)[]; message: string }[] {
  const { views, viewJitter } = cfg.transfer;
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (viewJitter !== undefined && !(views !== undefined && views > 1))
    issues.push({
      path: ['transfer', 'viewJitter'],
      message: 'viewJitter bounds the shift of views: give it with views > 1',
    });
  if (views === undefined || views === 1) return issues;
  if (cfg.data.dataset === 'csv')
    issues.push({
      path: ['transfer', 'views'],
      message: 'views shift pixels; rows of a table (dataset "csv") take views 1',
    });
  if ('softTargets' in cfg.teachers)
    issues.push({
      path: ['transfer', 'views'],
      message: 'stored soft targets (teachers.softTargets) are used as stored, one row per example: views 1',
    });
  if ('import' in cfg.teachers)
    (cfg.teachers as { import: { kind: string }[] }).import.forEach((t, i) => {
      if (t.kind === 'npy')
        issues.push({
          path: ['teachers', 'import', i],
          message: 'an .npy teacher is logits of the unshifted transfer set: no views of it (transfer.views 1)',
        });
    });
  if (cfg.student.train.jitter > 0)
    issues.push({
      path: ['student', 'train', 'jitter'],
      message:
        'with transfer.views > 1 each row is the fixed view its soft targets were computed on; a jitter would ' +
        'shift it away from what the teachers saw: give jitter 0 (the views are the augmentation)',
    });
  cfg.students.forEach((s, i) => {
    if (s.online)
      issues.push({
        path: ['students', i, 'online'],
        message:
          'online teachers and transfer.views are alternatives (fresh views taught on the fly vs fixed views ' +
          'with stored soft targets): drop online or set views 1',
      });
  });
  return issues;
}

/** A soft-target cache key: one path segment under soft-targets/. */
export const softTargetsKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected a soft-target key (letters, digits, ".", "_", "-")');

/**
 * Class ids of a class-selecting transfer rule against the dataset's classes: unknown ids, repeats,
 * and an exclusion of every class (which leaves no transfer data). Paths are relative to the rule.
 */
export function transferClassIssues(
  transfer: TransferSpec,
  dataset: string,
  classes: number,
): { path: (string | number)[]; message: string }[] {
  if (transfer.kind !== 'excludeClasses' && transfer.kind !== 'onlyClasses') return [];
  const issues = transfer.classes.flatMap((c, i) => {
    if (c >= classes)
      return [{ path: ['classes', i], message: `unknown class id ${c}: ${dataset} has classes 0-${classes - 1}` }];
    if (transfer.classes.indexOf(c) !== i) return [{ path: ['classes', i], message: `class ${c} is listed twice` }];
    return [];
  });
  if (issues.length === 0 && transfer.kind === 'excludeClasses' && new Set(transfer.classes).size >= classes)
    issues.push({
      path: ['classes'],
      message: `excluding all ${classes} classes of ${dataset} leaves no transfer data`,
    });
  return issues;
}

/**
 * A dataset as shards in the store: prepareData writes them once (by the dataset's digest), and every worker reads
 * shards instead of the source files; training holds `window` shards at a time, shuffled together.
 */
export const shardsSchema = z
  .object({
    /** Examples per shard. @default 10000 */
    size: z.number().int('a whole number of examples').min(1, 'at least 1 example').max(10_000_000).default(10_000),
    /**
     * Shards a training activity shuffles together; it holds this window and loads the next meanwhile. The order
     * is a function of the seed, so a resumed run replays it. @default every shard: the order of an unsharded run
     */
    window: z.number().int('a whole number of shards').min(1, 'at least 1 shard').optional(),
  })
  .strict();

export const dataSchema = z
  .object({
    dataset: datasetSchema,
    idx: idxFilesSchema.optional(),
    images: imageFoldersSchema.optional(),
    csv: csvTableSchema.optional(),
    /** @default none: pixels / 255, a table's features as they are */
    normalize: normalizeSchema.optional(),
    /** Examples held out from the training set for validation (bias-shift search, clustering). */
    validationSize: z.number().int().min(0).max(30000).default(5000),
    /** Use only this many training examples (after the validation hold-out); undefined = all. */
    trainLimit: positiveInt.optional(),
    /** Store the dataset as shards and stream training from them (docs/DATA.md). @default none: read whole */
    shards: shardsSchema.optional(),
  })
  .strict();

/**
 * A table's rows have no pixels to convolve or shift: with `dataset: "csv"` a CNN or a jitter is refused
 * (paths relative to the model's `{ model, train }`).
 */
export function tableModelIssues(
  model: { kind: string },
  train: { jitter: number },
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (model.kind === 'cnn')
    issues.push({ path: ['model', 'kind'], message: 'a CNN needs images; rows of a table take an MLP ("mlp")' });
  if (train.jitter > 0)
    issues.push({ path: ['train', 'jitter'], message: 'jitter shifts pixels; rows of a table take jitter 0' });
  return issues;
}
/** Cross-field checks of a config's data and transfer rule (distillation and student search). */
export function checkDataAndTransfer(cfg: { data: DataSpec; transfer: TransferSpec }, ctx: z.RefinementCtx): void {
  if ((cfg.data.dataset === 'idx') !== (cfg.data.idx !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['data', 'idx'],
      message: 'give data.idx (the four IDX files) exactly when data.dataset is "idx"',
    });
  }
  if ((cfg.data.dataset === 'images') !== (cfg.data.images !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['data', 'images'],
      message: 'give data.images (the image folders and inputShape) exactly when data.dataset is "images"',
    });
  }
  if ((cfg.data.dataset === 'csv') !== (cfg.data.csv !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['data', 'csv'],
      message: 'give data.csv (the table, its label column) exactly when data.dataset is "csv"',
    });
  }
  // User datasets' class counts are known only once loaded; prepareData runs the same check then.
  const classes = knownClasses(cfg.data.dataset);
  if (classes !== undefined)
    for (const i of transferClassIssues(cfg.transfer, cfg.data.dataset, classes))
      ctx.addIssue({ code: 'custom', path: ['transfer', ...i.path], message: i.message });
}
export type TransferSpec = z.infer<typeof viewTransferSchema>;
export type DataSpec = z.infer<typeof dataSchema>;
export type ImageFolders = z.infer<typeof imageFoldersSchema>;
export type CsvTableSpec = z.infer<typeof csvTableSchema>;
export type NormalizeInput = z.infer<typeof normalizeSchema>;
