/**
 * Pipeline input schemas. Parsed once at the boundary (the CLI, and the first activity of every
 * workflow); workflows only see the inferred types. Defaults live here so a config file can be short.
 */
import { z } from 'zod';
import { DATASET_NAMES, knownClasses } from '../common/datasets';
import { storeKeyProblem } from '../common/key-rules';
import { topKProblem } from '../common/soft-target-format';
import { keyedUnion } from './variants';
import { ENSEMBLE_RULES, QUANTIZE_KINDS, SOFT_TARGET_PRECISIONS } from '../contracts/vocabulary';

/** A count or size: a whole number ≥ 1. */
export const positiveInt = z.number().int().positive();
/** A dropout rate. */
export const rate = z.number().min(0).max(0.95);

/** An MLP: ReLU hidden layers, optional dropout on input and hidden units, optional max-norm. */
export const mlpSpecSchema = z
  .object({
    kind: z.literal('mlp'),
    hidden: z.array(positiveInt).min(1).max(8),
    /** Dropout rate on the input pixels. @default 0 */
    inputDropout: rate.optional(),
    /** Dropout rate on hidden units. @default 0 */
    hiddenDropout: rate.optional(),
    /** Max L2 norm of each hidden unit's incoming weight vector, or undefined for none. */
    maxNorm: z.number().positive().optional(),
  })
  .strict();

/** A small CNN: conv(3×3, ReLU) + 2×2 max-pool per entry of `filters`, then one dense layer. */
export const cnnSpecSchema = z
  .object({
    kind: z.literal('cnn'),
    filters: z.array(positiveInt).min(1).max(4),
    dense: positiveInt,
    /** Dropout on the dense layer. @default 0 */
    dropout: rate.optional(),
  })
  .strict();

/** The architectures chrysalis builds itself: teachers, generalists, search candidates, students. */
export const modelSpecSchema = z.discriminatedUnion('kind', [mlpSpecSchema, cnnSpecSchema]);

export const optimizerSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('sgd'),
      learningRate: z.number().positive(),
      momentum: z.number().min(0).max(0.999).optional(),
      nesterov: z.boolean().optional(),
      /** Momentum from `from` at the first epoch rising linearly to `momentum` at epoch `epochs` (the paper's teacher). */
      momentumRamp: z
        .object({ from: z.number().min(0).max(0.999), epochs: positiveInt.max(100000) })
        .strict()
        .optional(),
    })
    .strict()
    .refine((o) => !o.momentumRamp || o.momentumRamp.from <= (o.momentum ?? 0.9), {
      message: 'momentumRamp.from must not exceed momentum (the ramp rises to it)',
      path: ['momentumRamp', 'from'],
    }),
  z
    .object({
      kind: z.literal('adam'),
      learningRate: z.number().positive(),
      beta1: z.number().min(0).max(0.9999).optional(),
      beta2: z.number().min(0).max(0.99999).optional(),
      epsilon: z.number().positive().optional(),
    })
    .strict(),
]);

export const lrScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant') }).strict(),
  z.object({ kind: z.literal('exponential'), gamma: z.number().positive().max(1) }).strict(),
  z.object({ kind: z.literal('step'), every: positiveInt, gamma: z.number().positive().max(1) }).strict(),
  z.object({ kind: z.literal('cosine'), minFactor: z.number().min(0).max(1).optional() }).strict(),
]);

export const trainSpecSchema = z
  .object({
    epochs: positiveInt.max(100000),
    batchSize: positiveInt.max(65536).default(128),
    optimizer: optimizerSchema.default({ kind: 'sgd', learningRate: 0.05, momentum: 0.9 }),
    lrSchedule: lrScheduleSchema.default({ kind: 'constant' }),
    /** Max translation in pixels (the paper's teacher: 2). */
    jitter: z.number().int().min(0).max(4).default(0),
  })
  .strict();

/** A key in the artifact store, given by the user: relative, no `..`, no empty segments. */
export const storeKeySchema = z.string().superRefine((key, ctx) => {
  const problem = storeKeyProblem(key);
  if (problem) ctx.addIssue({ code: 'custom', message: `not a valid store key: ${problem}` });
});

/**
 * An absolute local path on the compute workers, under one of their data roots (checked there, before the
 * file is opened: activities/data-roots.ts), or `minio:<key>` for an object in the store.
 */
export const dataRefSchema = z
  .string()
  .min(1)
  .superRefine((ref, ctx) => {
    const problem = ref.startsWith('minio:')
      ? storeKeyProblem(ref.slice('minio:'.length))
      : ref.split(/[\\/]/).includes('..')
        ? '".." segment in the path'
        : !ref.startsWith('/')
          ? 'a local path must be absolute (and under a data root, CHRYSALIS_DATA_ROOTS)'
          : undefined;
    if (problem) ctx.addIssue({ code: 'custom', message: `not a valid data reference: ${problem}` });
  });

/**
 * Where an outside teacher's files are: an absolute local path on the compute workers under one of their data
 * roots, `minio:<key>` (a key prefix for a SavedModel directory), or an http(s) URL (downloaded once into the
 * store).
 */
export const importRefSchema = importRef('teacher');

/** An import reference (see {@link importRefSchema}); `what` names it in messages. */
function importRef(what: string) {
  return z
    .string()
    .min(1)
    .superRefine((ref, ctx) => {
      const problem = importRefProblem(ref);
      if (problem) ctx.addIssue({ code: 'custom', message: `not a valid ${what} reference: ${problem}` });
    });
}

function importRefProblem(ref: string): string | undefined {
  if (ref.startsWith('minio:')) return storeKeyProblem(ref.slice('minio:'.length));
  if (/^https?:\/\//.test(ref)) return URL.canParse(ref) ? undefined : 'not a URL';
  // The worker confines local paths to its data roots (activities/data-roots.ts) before opening them.
  if (!ref.startsWith('/')) return 'a local path must be absolute (and under a data root, CHRYSALIS_DATA_ROOTS)';
  return ref.split(/[\\/]/).includes('..') ? '".." segment in the path' : undefined;
}

/**
 * A student architecture of your own: a TensorFlow.js layers `model.json` holding a Sequential topology (its
 * weights, if any, are ignored: the student is trained from a seeded initialisation). The run fetches it once,
 * checks it against the data and stores it under the sha256 of its bytes, which names the student from then
 * on (docs/OWN-STUDENT.md).
 */
export const layersSpecSchema = z
  .object({
    kind: z.literal('layers'),
    /** The model.json: an absolute path under a data root, `minio:<key>`, or an http(s) URL. */
    topology: importRef('topology'),
    /**
     * sha256 (hex) of the model.json's bytes. Filled in when the run fetches the file; given, it pins the
     * file: other bytes fail the run. @default the fetched file's
     */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected the 64 lower-case hex digits of a sha256')
      .optional(),
  })
  .strict();

/** What a distilled student may be: a built-in architecture or a layers topology of your own. */
export const studentModelSpecSchema = z.discriminatedUnion('kind', [mlpSpecSchema, cnnSpecSchema, layersSpecSchema]);

/** What an outside teacher's output tensor holds; it is turned into logits (probabilities: their log). */
export const teacherOutputsSchema = z.enum(['logits', 'probabilities', 'log-probabilities']);

/** One outside teacher: a TensorFlow SavedModel, a TensorFlow.js model, or its precomputed outputs. */
export const teacherImportSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('savedmodel'),
      /**
       * The SavedModel directory (saved_model.pb, variables/), or that directory packed as one `.tar`, `.tar.gz` or
       * `.tgz` file — the only form an http(s) URL can give, since a directory cannot be listed over http.
       */
      path: importRefSchema.refine((r) => !/^https?:/.test(r) || /\.(tar|tar\.gz|tgz)$/i.test(r.split('?')[0]!), {
        message:
          'a SavedModel directory cannot be downloaded over http(s): give a .tar.gz of it ' +
          '(tar czf teacher.tar.gz teacher/), or copy it into the store (minio:<prefix>)',
      }),
      /** @default 'serving_default' */
      signature: z.string().min(1).optional(),
      /** The signature's output to use. @default its only output */
      outputName: z.string().min(1).optional(),
      outputs: teacherOutputsSchema,
    })
    .strict(),
  z
    .object({
      kind: z.literal('tfjs'),
      /** The model.json (layers or graph format); weight shards are read beside it. */
      path: importRefSchema,
      outputs: teacherOutputsSchema,
    })
    .strict(),
  z
    .object({
      kind: z.literal('npy'),
      /** float32 [transfer n, classes], row i for the i-th example of the transfer set. */
      path: importRefSchema,
      /** @default 'logits' */
      outputs: teacherOutputsSchema.default('logits'),
    })
    .strict(),
]);

/** A finished model stored by an earlier run. */
export const modelRefSchema = z
  .object({
    manifestKey: storeKeySchema.refine((k) => k.endsWith('/manifest.json'), {
      message: 'expected a model manifest key, e.g. "models/<digest>/manifest.json"',
    }),
  })
  .strict();

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

export const studentVariantSchema = z
  .object({
    temperature: z.number().gt(0, 'T must be > 0').max(1000),
    alpha: z.number().min(0, 'alpha must be in [0, 1]').max(1, 'alpha must be in [0, 1]'),
    /**
     * Online distillation: the teachers run on each training batch as the student sees it (its own jittered
     * view: "consistent" teaching), instead of the soft targets stored once on the unshifted transfer set.
     * Needs teachers trained here or stored (`count`, `refs`); slower per epoch by the teachers' forward pass.
     * @default false
     */
    online: z.boolean().optional(),
  })
  .strict();

/** Online students need teacher models to run; imported teachers and stored soft targets have none here. */
export function onlineStudentIssues(
  students: readonly { online?: boolean | undefined }[],
  teachers: object,
): { path: (string | number)[]; message: string }[] {
  if ('count' in teachers || 'refs' in teachers) return [];
  return students.flatMap((s, i) =>
    s.online
      ? [
          {
            path: ['students', i, 'online'],
            message: 'online distillation runs the teachers in training: give teachers as "count" or "refs"',
          },
        ]
      : [],
  );
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

const dataSchema = z
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

/** A run's name (reports, workflow ids) and seed: every config has both. */
export const runIdentity = {
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes')
    .default('custom'),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(1),
};

/** Weight quantisation of an export: IEEE half floats, or the tfjs converter's affine uint8 per tensor. */
export const quantizeKindSchema = z.enum(QUANTIZE_KINDS);

/** What leaves the run besides the float32 export of the best student. */
export const exportSchema = z
  .object({
    /** One quantised copy of the export per entry, each measured (size, test errors). @default [] */
    quantize: z
      .array(quantizeKindSchema)
      .refine((kinds) => new Set(kinds).size === kinds.length, { message: 'each quantisation at most once' })
      .default([]),
  })
  .strict();

/**
 * How the teachers' soft targets are stored (docs/SOFT-TARGETS.md): the format is part of the soft-target cache
 * key, and absent (or float32 without topK) is the full float32 logits every earlier run stored.
 */
export const softTargetsFormatSchema = z
  .object({
    /** Precision of every stored logit. @default 'float32' */
    precision: z.enum(SOFT_TARGET_PRECISIONS).default('float32'),
    /**
     * Keep per example only the k classes the teacher ensemble finds most probable (their logits, and two numbers
     * for the other classes together: a rest bucket in the loss). @default every class, as full logits
     */
    topK: z.number().int('a whole number of classes').min(1, 'keep at least 1 class').max(65536).optional(),
    /**
     * Transfer examples per teacher-inference activity: each (teacher, block) runs, retries and is stored alone,
     * spread over every compute worker. Not part of the cache key: any block size stores the same object.
     * @default 10000
     */
    blockSize: z.number().int('a whole number of examples').min(1, 'at least 1 example').max(10_000_000).optional(),
  })
  .strict();

export const distillationConfigSchema = z
  .object({
    ...runIdentity,
    data: dataSchema,
    teachers: keyedUnion('teachers', {
      /** Train this many teachers from one recipe (different seeds). */
      count: z.object({ count: positiveInt.max(64), model: modelSpecSchema, train: trainSpecSchema }).strict(),
      /** Models stored by earlier runs. */
      refs: z.object({ refs: z.array(modelRefSchema).min(1) }).strict(),
      /** Soft targets already stored (e.g. a generalist+specialists combination's log q): no teacher runs. */
      softTargets: z.object({ softTargets: z.object({ key: softTargetsKeySchema }).strict() }).strict(),
      /** Teachers trained elsewhere (an ensemble may mix kinds): loaded, probed, then run on the transfer set. */
      import: z.object({ import: z.array(teacherImportSchema).min(1).max(16) }).strict(),
    }),
    ensemble: z.enum(ENSEMBLE_RULES).default('arithmetic'),
    transfer: viewTransferSchema.default({ kind: 'full' }),
    student: z.object({ model: studentModelSpecSchema, train: trainSpecSchema }).strict(),
    /** One distilled student per entry; the hard-label baseline is always trained too. */
    students: z.array(studentVariantSchema).min(1).max(32),
    /** Quantised copies of the exported student; absent: the float32 export only. */
    export: exportSchema.optional(),
    /** Storage format of the soft targets this run computes. @default full float32 logits */
    softTargets: softTargetsFormatSchema.optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    checkDataAndTransfer(cfg, ctx);
    for (const i of onlineStudentIssues(cfg.students, cfg.teachers))
      ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
    for (const i of viewIssues(cfg)) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
    if (cfg.data.dataset !== 'csv') return;
    const models: [(string | number)[], { model: ModelSpecInput; train: TrainSpec }][] = [[['student'], cfg.student]];
    if ('count' in cfg.teachers) models.push([['teachers'], cfg.teachers]);
    for (const [path, m] of models)
      for (const i of tableModelIssues(m.model, m.train))
        ctx.addIssue({ code: 'custom', path: [...path, ...i.path], message: i.message });
  })
  .superRefine(checkSoftTargetsFormat);

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

/** k against the dataset's classes (built-in datasets; others once loaded), and no format for stored targets. */
function checkSoftTargetsFormat(
  cfg: { data: DataSpec; teachers: object; softTargets?: { topK?: number | undefined } | undefined },
  ctx: z.RefinementCtx,
): void {
  if (!cfg.softTargets) return;
  if ('softTargets' in cfg.teachers)
    ctx.addIssue({
      code: 'custom',
      path: ['softTargets'],
      message:
        'stored soft targets (teachers.softTargets) are used as they were stored: ' +
        'a format applies to soft targets this run computes',
    });
  const classes = knownClasses(cfg.data.dataset);
  const problem = classes === undefined ? undefined : topKProblem(cfg.softTargets.topK, classes, cfg.data.dataset);
  if (problem) ctx.addIssue({ code: 'custom', path: ['softTargets', 'topK'], message: problem });
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

export const smokeConfigSchema = z
  .object({
    seed: z.number().int().min(0).default(1),
    data: dataSchema,
    model: modelSpecSchema,
    train: trainSpecSchema,
  })
  .strict();

/** Any architecture a chrysalis model may have (a {@link LayersSpecInput} only as a distilled student). */
export type ModelSpecInput = z.infer<typeof studentModelSpecSchema>;
/** The architectures chrysalis builds from its own spec. */
export type BuiltInSpecInput = z.infer<typeof modelSpecSchema>;
export type LayersSpecInput = z.infer<typeof layersSpecSchema>;
export type MlpSpecInput = z.infer<typeof mlpSpecSchema>;
export type CnnSpecInput = z.infer<typeof cnnSpecSchema>;
export type TrainSpec = z.infer<typeof trainSpecSchema>;
export type TransferSpec = z.infer<typeof viewTransferSchema>;
export type StudentVariant = z.infer<typeof studentVariantSchema>;
export type DataSpec = z.infer<typeof dataSchema>;
export type ImageFolders = z.infer<typeof imageFoldersSchema>;
export type CsvTableSpec = z.infer<typeof csvTableSchema>;
export type NormalizeInput = z.infer<typeof normalizeSchema>;
export type DistillationConfig = z.infer<typeof distillationConfigSchema>;
export type SmokeConfig = z.infer<typeof smokeConfigSchema>;
export type ModelRefInput = z.infer<typeof modelRefSchema>;
export type TeacherImport = z.infer<typeof teacherImportSchema>;
export type TeacherOutputs = z.infer<typeof teacherOutputsSchema>;
