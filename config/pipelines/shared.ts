/**
 * The config parts every pipeline shares: model specs, training, store keys and references, imported teachers, a
 * run's identity. Parsed once at the boundary (the CLI, and the first activity of every workflow); workflows only
 * see the inferred types. Defaults live here so a config file can be short.
 */
import { z } from 'zod';
import { storeKeyProblem } from '../../common/key-rules';

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
 * file is opened: data/roots.ts), or `minio:<key>` for an object in the store.
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
  // The worker confines local paths to its data roots (data/roots.ts) before opening them.
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
/** Any architecture a chrysalis model may have (a {@link LayersSpecInput} only as a distilled student). */
export type ModelSpecInput = z.infer<typeof studentModelSpecSchema>;
/** The architectures chrysalis builds from its own spec. */
export type BuiltInSpecInput = z.infer<typeof modelSpecSchema>;
export type LayersSpecInput = z.infer<typeof layersSpecSchema>;
export type MlpSpecInput = z.infer<typeof mlpSpecSchema>;
export type CnnSpecInput = z.infer<typeof cnnSpecSchema>;
export type TrainSpec = z.infer<typeof trainSpecSchema>;
export type ModelRefInput = z.infer<typeof modelRefSchema>;
export type TeacherImport = z.infer<typeof teacherImportSchema>;
export type TeacherOutputs = z.infer<typeof teacherOutputsSchema>;
