/**
 * Turns a pipeline input ({ preset, overrides } or { config }) into a validated config, returning a
 * discriminated-union result whose issues name every bad field path.
 */
import { z } from 'zod';
import { distillationPresets, smokePresets } from './presets';
import { distillationConfigSchema, smokeConfigSchema } from './schemas';
import type { DistillationConfig, SmokeConfig } from './schemas';

export interface InputIssue {
  path: string;
  message: string;
}
export type Resolved<T> = { ok: true; config: T } | { ok: false; issues: InputIssue[] };

/** What a workflow is started with: a preset name plus overrides, or a full config. */
export interface PipelineInput {
  preset?: string;
  /** Deep-merged onto the preset (objects merge, arrays and scalars replace). */
  overrides?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

const inputSchema = z
  .object({
    preset: z.string().optional(),
    overrides: z.record(z.string(), z.unknown()).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
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
      .reduceRight<unknown>((acc, key) => ({ [key]: acc }), value);
    out = deepMerge(out, patch);
  }
  return out as Record<string, unknown>;
}

function issuesOf(err: z.ZodError, prefix: string[] = []): InputIssue[] {
  return err.issues.map((i) => ({
    path: [...prefix, ...i.path.map(String)].join('.') || '(root)',
    message: i.message,
  }));
}

export function resolveWith<T>(raw: unknown, presets: Record<string, unknown>, schema: z.ZodType<T>): Resolved<T> {
  const input = inputSchema.safeParse(raw ?? {});
  if (!input.success) return { ok: false, issues: issuesOf(input.error) };
  const { preset, overrides, config } = input.data;
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
    base = presets[preset];
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
  const parsed = schema.safeParse(deepMerge(base, overrides));
  return parsed.success
    ? { ok: true, config: parsed.data }
    : { ok: false, issues: issuesOf(parsed.error, preset !== undefined ? [] : ['config']) };
}

export function resolveDistillationInput(raw: unknown): Resolved<DistillationConfig> {
  return resolveWith(raw, distillationPresets, distillationConfigSchema);
}

export function resolveSmokeInput(raw: unknown): Resolved<SmokeConfig> {
  return resolveWith(raw, smokePresets, smokeConfigSchema);
}

export function formatIssues(issues: readonly InputIssue[]): string {
  return `invalid input: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
}
