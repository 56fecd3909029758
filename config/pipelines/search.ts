/**
 * The student search's input (issue 11): teachers as in a distillation run, a space of candidate
 * students, one training recipe, the successive-halving schedule and a budget. Parsed at the
 * boundary like every pipeline's input (config/resolve.ts resolveSearchInput).
 */
import { z } from 'zod';
import { scheduleProblem, searchCandidates, spaceArchitectures } from '../../common/search-plan';
import { distillationConfigSchema } from './distillation';
import { cosineSgd, distillationPresets } from './distillation-presets';
import { modelSizeIssues, resolveWith } from './resolve-input';
import type { ConfigCheck, ResolveOptions, Resolved } from './resolve-input';
import { modelSpecSchema, positiveInt, rate, runIdentity, trainSpecSchema } from './shared';
import { checkDataAndTransfer } from './shared-data';
import { keyedUnion } from '../variants';

/** At most this many candidates (architectures × temperatures) in one search. */
export const MAX_CANDIDATES = 64;

/**
 * The fastest batch-1 call any model makes is well above a microsecond; a budget below that can only
 * be a unit mistake.
 */
export const MIN_LATENCY_BUDGET_MS = 0.001;

/**
 * A listed candidate: a built-in architecture. A layers topology of your own is refused by name: the search
 * compares architectures it builds itself, and one fixed topology has nothing to search over.
 */
const candidateSchema = z
  .unknown()
  .superRefine((v, ctx) => {
    if (typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'layers')
      ctx.addIssue({
        code: 'custom',
        path: ['kind'],
        // Aborts, as a bad discriminator does: the space's own checks must not see a candidate they cannot read.
        continue: false,
        message:
          'a layers topology cannot be a search candidate (the search builds MLPs and CNNs); ' +
          'distil it as student.model of a distillation run',
      });
  })
  .pipe(modelSpecSchema);

export const searchSpaceSchema = z
  .object({
    /** Architectures given one by one. */
    models: z.array(candidateSchema).min(1).max(MAX_CANDIDATES).optional(),
    /** Every MLP of `depth` hidden layers of `width` units, for each width and depth. */
    mlp: z
      .object({
        widths: z.array(positiveInt).min(1).max(16),
        depths: z.array(z.number().int().min(1).max(8)).min(1).max(8),
        /** @default 0 */
        hiddenDropout: rate.optional(),
      })
      .strict()
      .optional(),
    /** Every CNN of each filter list with each dense width. */
    cnn: z
      .object({
        filters: z.array(z.array(positiveInt).min(1).max(4)).min(1).max(8),
        dense: z.array(positiveInt).min(1).max(8),
        /** @default 0 */
        dropout: rate.optional(),
      })
      .strict()
      .optional(),
    /** Each architecture is distilled at each of these temperatures. */
    temperatures: z.array(z.number().gt(0, 'T must be > 0').max(1000)).min(1).max(8),
    /** Weight of the soft term. @default 0.9 */
    alpha: z.number().min(0, 'alpha must be in [0, 1]').max(1, 'alpha must be in [0, 1]').default(0.9),
  })
  .strict();

export const budgetSchema = keyedUnion('budget', {
  /** At most this many validation errors more than the teacher ensemble. */
  maxExtraErrors: z
    .object({
      maxExtraErrors: z
        .number()
        .int('a whole number of errors')
        .min(0, 'must be ≥ 0 ' + '(errors more than the teachers)'),
    })
    .strict(),
  /** At most this native p50 latency at batch 1, in milliseconds. */
  maxLatencyMs: z
    .object({
      maxLatencyMs: z
        .number()
        .gt(0, { message: 'must be > 0 ms', abort: true })
        .min(MIN_LATENCY_BUDGET_MS, `below ${MIN_LATENCY_BUDGET_MS} ms no model can answer (is the unit ms?)`),
    })
    .strict(),
});

export const searchConfigSchema = z
  .object({
    ...runIdentity,
    data: distillationConfigSchema.shape.data,
    teachers: distillationConfigSchema.shape.teachers,
    ensemble: distillationConfigSchema.shape.ensemble,
    transfer: distillationConfigSchema.shape.transfer,
    space: searchSpaceSchema,
    /** The full training recipe of every candidate; rungs train its first epochs. */
    train: trainSpecSchema,
    halving: z
      .object({
        /** Each rung keeps the best 1/eta of the candidates. @default 3 */
        eta: z.number().int().min(2).max(10).default(3),
        /** Number of rungs; the last trains the survivors to `train.epochs`. @default 3 */
        rungs: z.number().int().min(1).max(6).default(3),
      })
      .strict()
      .default({ eta: 3, rungs: 3 }),
    budget: budgetSchema,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    checkDataAndTransfer(cfg, ctx);
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const s = cfg.space;
    if (!s.models && !s.mlp && !s.cnn) issue(['space'], 'give at least one of "models", "mlp", "cnn"');
    const n = searchCandidates(s).length;
    if (n > MAX_CANDIDATES)
      issue(['space'], `${n} candidates (architectures × temperatures): at most ${MAX_CANDIDATES}`);
    const problem = scheduleProblem(cfg.train.epochs, cfg.halving.rungs, cfg.halving.eta);
    if (problem) issue(['halving', 'rungs'], problem);
    if (cfg.data.validationSize === 0)
      issue(['data', 'validationSize'], 'the search decides on the validation split: validationSize must be > 0');
    if ('maxExtraErrors' in cfg.budget && 'softTargets' in cfg.teachers)
      issue(
        ['budget', 'maxExtraErrors'],
        'an error budget is relative to the teacher ensemble, and stored soft targets have no validation ' +
          'predictions: give teachers as "count" or "refs", or use maxLatencyMs',
      );
  });

export type SearchConfig = z.infer<typeof searchConfigSchema>;
export type SearchConfigInput = z.input<typeof searchConfigSchema>;

/**
 * mnist-quick's two teachers: with the same training split and seed a search after a quick run trains
 * no teacher (its full transfer set needs their logits once, then the soft targets are cached too).
 */
const quickTeachers = distillationPresets['mnist-quick']!.teachers;

export const searchPresets: Record<string, SearchConfigInput> = {
  /**
   * Issue 11's job: the smallest MNIST student within 30 validation errors of mnist-quick's two
   * teachers. 20 candidates (MLP widths 32–512 × depths 1–2 × T ∈ {2, 4}) on the full transfer set;
   * halving at eta 3 over rungs of 2, 6 and 18 epochs trains 20·2 + 7·4 + 3·12 = 104 candidate-epochs
   * where the full grid would take 360. Sized for ≤ 20 minutes on 2 cores with one compute slot: one
   * epoch on 55,000 digits took 1.1 s (32 units) to 4.2 s (512×512) on a loaded 2-core machine.
   */
  'mnist-search': {
    name: 'mnist-search',
    data: { dataset: 'mnist', validationSize: 5000 },
    teachers: quickTeachers,
    transfer: { kind: 'full' },
    space: { mlp: { widths: [32, 64, 128, 256, 512], depths: [1, 2] }, temperatures: [2, 4], alpha: 0.9 },
    train: { epochs: 18, ...cosineSgd },
    halving: { eta: 3, rungs: 3 },
    budget: { maxExtraErrors: 30 },
  },
  /** Seconds: 6 tiny candidates on 3,000 digits, rungs of 1, 2 and 4 epochs (integration tests). */
  'search-tiny': {
    name: 'search-tiny',
    data: { dataset: 'mnist', validationSize: 1000, trainLimit: 2000 },
    teachers: { count: 2, model: { kind: 'mlp', hidden: [64] }, train: { epochs: 2, batchSize: 64 } },
    space: { mlp: { widths: [8, 16, 32], depths: [1] }, temperatures: [2, 4] },
    train: { epochs: 4, batchSize: 64 },
    halving: { eta: 2, rungs: 3 },
    budget: { maxExtraErrors: 150 },
  },
};

/** Teachers and every candidate architecture of the search space, sized against the limits. */
const searchChecks: ConfigCheck<SearchConfig> = (cfg, limits) =>
  modelSizeIssues(
    cfg.data,
    [
      ...('count' in cfg.teachers
        ? [{ path: 'teachers.model', spec: cfg.teachers.model, batchSize: cfg.teachers.train.batchSize }]
        : []),
      ...spaceArchitectures(cfg.space).map((spec) => ({
        path: 'space',
        spec: spec,
        batchSize: cfg.train.batchSize,
      })),
    ],
    limits,
  );

export function resolveSearchInput(raw: unknown, opts?: ResolveOptions): Resolved<SearchConfig> {
  return resolveWith(raw, searchPresets, searchConfigSchema, searchChecks, opts);
}
