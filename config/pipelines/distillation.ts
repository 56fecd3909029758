/**
 * The distillation pipeline's config: its schema (teachers, students, export, soft-target format), its cross-field
 * rules (exported: activities apply them too) and its resolver. Its presets: ./distillation-presets.ts.
 */
import { z } from 'zod';
import { knownClasses } from '../../common/datasets';
import { topKProblem } from '../../common/soft-target-format';
import { ENSEMBLE_RULES, QUANTIZE_KINDS, SOFT_TARGET_PRECISIONS } from '../../contracts/vocabulary';
import { keyedUnion } from '../variants';
import { distillationPresets } from './distillation-presets';
import { modelSizeIssues, resolveWith } from './resolve-input';
import type { ConfigCheck, ResolveOptions, Resolved } from './resolve-input';
import {
  modelRefSchema,
  modelSpecSchema,
  positiveInt,
  runIdentity,
  studentModelSpecSchema,
  teacherImportSchema,
  trainSpecSchema,
} from './shared';
import type { ModelSpecInput, TrainSpec } from './shared';
import {
  checkDataAndTransfer,
  dataSchema,
  softTargetsKeySchema,
  tableModelIssues,
  viewIssues,
  viewTransferSchema,
} from './shared-data';
import type { DataSpec } from './shared-data';

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

/** k against the dataset's classes (built-in datasets; others once loaded), and no format for stored targets. */
export function checkSoftTargetsFormat(
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

const distillationChecks: ConfigCheck<DistillationConfig> = (cfg, limits) =>
  modelSizeIssues(
    cfg.data,
    [
      ...('count' in cfg.teachers
        ? [{ path: 'teachers.model', spec: cfg.teachers.model, batchSize: cfg.teachers.train.batchSize }]
        : []),
      { path: 'student.model', spec: cfg.student.model, batchSize: cfg.student.train.batchSize },
    ],
    limits,
  );

export function resolveDistillationInput(raw: unknown, opts?: ResolveOptions): Resolved<DistillationConfig> {
  return resolveWith(raw, distillationPresets, distillationConfigSchema, distillationChecks, opts);
}

export type StudentVariant = z.infer<typeof studentVariantSchema>;
export type DistillationConfig = z.infer<typeof distillationConfigSchema>;
