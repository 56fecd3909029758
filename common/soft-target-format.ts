/**
 * How a run's soft targets are stored (config `softTargets`): every logit in float32 (the default, and what
 * every run before this option stored), every logit in float16, or per example only the top-k classes' logits
 * plus two numbers for the other classes together (docs/SOFT-TARGETS.md). Sandbox-safe: workflows use it to
 * name the format in the cache key and to check k against the data's classes before any teacher trains.
 */

import type { EnsembleRule, SoftTargetPrecision } from '../contracts/vocabulary';

/** A non-default storage format, as it travels in activity requests and soft-target manifests. */
export interface SoftTargetFormat {
  precision: SoftTargetPrecision;
  /** Classes kept per example; absent: all of them, as plain logits. */
  topK?: number;
  /**
   * The ensemble rule the kept classes were chosen (and, for `geometric`, the teachers combined) by: part of
   * a top-k format, because a top-k set cannot be re-combined by another rule. Absent without `topK`.
   */
  ensemble?: EnsembleRule;
}

/** The config fields the format comes from. */
export interface SoftTargetsConfig {
  softTargets?:
    { precision: SoftTargetPrecision; topK?: number | undefined; blockSize?: number | undefined } | undefined;
  ensemble?: EnsembleRule | undefined;
}

/**
 * The storage format a config asks for, or undefined for full float32: that default adds nothing to cache
 * keys, requests or manifests, so runs configured before the option find and write exactly what they did.
 */
export function softTargetFormat(cfg: SoftTargetsConfig): SoftTargetFormat | undefined {
  const s = cfg.softTargets;
  if (!s || (s.precision === 'float32' && s.topK === undefined)) return undefined;
  if (s.topK === undefined) return { precision: s.precision };
  return { precision: s.precision, topK: s.topK, ensemble: cfg.ensemble ?? 'arithmetic' };
}

/** Why k cannot be used with this many classes, or undefined when it can. */
export function topKProblem(topK: number | undefined, numClasses: number, dataset: string): string | undefined {
  if (topK === undefined || topK <= numClasses) return undefined;
  return `k = ${topK} is more than the ${numClasses} classes of ${dataset}`;
}

/** "top-3 of 10 classes + rest, float16" or "full float32": the report's words for a format. */
export function describeSoftTargetFormat(format: SoftTargetFormat | undefined, numClasses: number): string {
  if (!format) return 'full float32 logits';
  if (format.topK === undefined) return `full ${format.precision} logits`;
  const combined = format.ensemble === 'geometric' ? ', teachers combined (geometric mean) at storage' : '';
  return `top-${format.topK} of ${numClasses} classes + a rest bucket, ${format.precision}${combined}`;
}

/** What a run's soft targets cost in the store: the report's line. */
export interface SoftTargetStorage {
  /** In words, e.g. "top-3 of 10 classes + a rest bucket, float16". */
  format: string;
  /** The tensor file's bytes (header included), or all its parts'. */
  bytes: number;
  /** Transfer examples. */
  n: number;
  bytesPerExample: number;
}

export function softTargetStorage(ref: {
  logits: { bytes: number };
  /** Stored in part files: their bytes in all. */
  parts?: { bytes: number };
  n: number;
  numClasses: number;
  format?: SoftTargetFormat;
}): SoftTargetStorage {
  const bytes = ref.parts?.bytes ?? ref.logits.bytes;
  return {
    format: describeSoftTargetFormat(ref.format, ref.numClasses),
    bytes,
    n: ref.n,
    bytesPerExample: ref.n > 0 ? bytes / ref.n : 0,
  };
}
