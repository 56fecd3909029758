/**
 * Turns a pipeline input ({ preset, overrides } or { config }, with optional run options) into a
 * validated config and options, returning a discriminated-union result whose issues name every bad
 * field path. The whole input is parsed strictly: an unknown key anywhere is an error, never ignored.
 */
import { z } from 'zod';
import { BUILTIN_DATASETS } from '../../common/datasets';
import { invalidInputMessage } from '../../common/failure-types';
import { queueNameSchema } from '../env';
import { DEFAULT_MODEL_LIMITS, modelSizeProblem } from '../model-size';
import type { ModelLimits } from '../model-size';
import type { ModelSpecInput } from './shared';
import type { DataSpec } from './shared-data';
import { switchesVariant } from '../variants';

export interface InputIssue {
  path: string;
  message: string;
}

/** Operational knobs a run can set beside its config; none changes results. */
export const runOptionsSchema = z
  .object({
    /** @default the compute worker's CHRYSALIS_COMPUTE_QUEUE, "chrysalis-compute" */
    computeQueue: queueNameSchema.optional(),
    /** A training activity that stays silent this long is retried from its last checkpoint. @default 60 */
    heartbeatTimeoutSeconds: z.number().int().min(1).max(3600).optional(),
    /** Upper bound on one training activity. @default 1440 (24 h) */
    trainTimeoutMinutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .optional(),
  })
  .strict();

export type RunOptions = z.infer<typeof runOptionsSchema>;

export type Resolved<T> = { ok: true; config: T; options: RunOptions } | { ok: false; issues: InputIssue[] };

/** What a workflow is started with: a preset name plus overrides, or a full config; options beside either. */
export interface PipelineInput {
  preset?: string;
  /** Deep-merged onto the preset (objects merge; arrays, scalars and objects of another variant replace). */
  overrides?: Record<string, unknown>;
  config?: Record<string, unknown>;
  options?: RunOptions;
}

const inputSchema = z
  .object(
    {
      preset: z.string().min(1).optional(),
      overrides: z.record(z.string(), z.unknown()).optional(),
      config: z.record(z.string(), z.unknown()).optional(),
      options: runOptionsSchema.optional(),
    },
    { error: 'the input must be an object: { preset, overrides?, options? } or { config, options? }' },
  )
  .strict();

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Objects merge key by key; anything else in `over` replaces. An object that names another variant
 * than the base (another `kind`, or `refs` over `{ count, model, train }`) replaces it whole, so an
 * override can switch variant. Keys are defined, never assigned, so `__proto__` stays a plain key that
 * strict parsing then refuses.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over) || switchesVariant(base, over)) return over;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base))
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true });
  for (const [k, v] of Object.entries(over))
    Object.defineProperty(out, k, { value: deepMerge(base[k], v), enumerable: true, writable: true });
  return out;
}

/** Applies `a.b.c=value` assignments (value parsed as JSON when it parses, else a string). */
export function applySetters(target: Record<string, unknown>, setters: readonly string[]): Record<string, unknown> {
  let out: unknown = target;
  for (const s of setters) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects key=value, got "${s}"`);
    const raw = s.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    const patch = s
      .slice(0, eq)
      .split('.')
      .reduceRight<unknown>((acc, key) => Object.defineProperty({}, key, { value: acc, enumerable: true }), value);
    out = deepMerge(out, patch);
  }
  return out as Record<string, unknown>;
}

function issuesOf(err: z.ZodError, prefix: string[] = []): InputIssue[] {
  return err.issues.flatMap((i) => {
    const at = [...prefix, ...i.path.map(String)];
    // One issue per unknown key, at the key's own path: "options.gpu: unknown key".
    if (i.code === 'unrecognized_keys')
      return i.keys.map((k) => ({ path: [...at, k].join('.'), message: 'unknown key (not allowed here)' }));
    return [{ path: at.join('.') || '(root)', message: i.message }];
  });
}

/** Checks that need the parsed config as a whole and the worker's limits. */
export type ConfigCheck<T> = (config: T, limits: ModelLimits) => InputIssue[];

export interface ResolveOptions {
  /** @default DEFAULT_MODEL_LIMITS */
  limits?: ModelLimits | undefined;
}

export function resolveWith<T>(
  raw: unknown,
  presets: Record<string, unknown>,
  schema: z.ZodType<T>,
  check?: ConfigCheck<T>,
  opts: ResolveOptions = {},
): Resolved<T> {
  const input = inputSchema.safeParse(raw);
  if (!input.success) return { ok: false, issues: issuesOf(input.error) };
  const { preset, options } = input.data;
  // zod's record parse assigns keys, which turns a "__proto__" key into a prototype; take the raw
  // objects (checked to be records above) so such a key reaches the strict config parse and is refused.
  const { overrides, config } = raw as { overrides?: Record<string, unknown>; config?: Record<string, unknown> };
  if ((preset === undefined) === (config === undefined)) {
    return {
      ok: false,
      issues: [
        {
          path: preset === undefined ? 'preset' : 'config',
          message: 'give exactly one of "preset" (with optional "overrides") or "config"',
        },
      ],
    };
  }
  let base: unknown = config;
  if (preset !== undefined) {
    base = Object.hasOwn(presets, preset) ? presets[preset] : undefined;
    if (base === undefined)
      return {
        ok: false,
        issues: [
          {
            path: 'preset',
            message: `unknown preset "${preset}"; expected one of: ${Object.keys(presets).join(', ')}`,
          },
        ],
      };
  }
  const prefix = preset !== undefined ? [] : ['config'];
  const parsed = schema.safeParse(deepMerge(base, overrides));
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error, prefix) };
  const problems = check?.(parsed.data, opts.limits ?? DEFAULT_MODEL_LIMITS) ?? [];
  if (problems.length > 0)
    return { ok: false, issues: problems.map((p) => ({ ...p, path: [...prefix, p.path].join('.') })) };
  return { ok: true, config: parsed.data, options: options ?? {} };
}

/**
 * Size checks for models on a built-in dataset, whose input shape is known before any data is loaded;
 * other datasets are checked by the compute worker once loaded, before the model is built. A layers topology
 * is sized once its file is read (the importStudent activity), not here.
 */
export function modelSizeIssues(
  data: DataSpec,
  models: readonly { path: string; spec: ModelSpecInput; batchSize: number }[],
  limits: ModelLimits,
): InputIssue[] {
  if (data.dataset === 'idx' || data.dataset === 'images' || data.dataset === 'csv') return [];
  const { inputShape, classes } = BUILTIN_DATASETS[data.dataset];
  return models.flatMap((m) => {
    if (m.spec.kind === 'layers') return [];
    const problem = modelSizeProblem(m.spec, { inputShape, numClasses: classes, batchSize: m.batchSize }, limits);
    return problem ? [{ path: m.path, message: problem }] : [];
  });
}

export function formatIssues(issues: readonly InputIssue[]): string {
  return invalidInputMessage(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
}
