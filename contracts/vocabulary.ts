/**
 * The closed vocabularies the layers exchange, each spelled once. This file imports nothing: every folder,
 * common/ and the workflow sandbox included, may use it. Config schemas build their enums from the tuples
 * (`z.enum(ENSEMBLE_RULES)`), so the accepted input and the types that carry it cannot drift apart.
 */

/** How teachers' predictions combine: mean of their softmaxes (arithmetic) or softmax of their mean logit (geometric). */
export const ENSEMBLE_RULES = ['arithmetic', 'geometric'] as const;
export type EnsembleRule = (typeof ENSEMBLE_RULES)[number];

/** How an exported model's weights may be quantised (config `export.quantize`, ml/quantize.ts). */
export const QUANTIZE_KINDS = ['float16', 'uint8'] as const;
export type QuantizeKind = (typeof QUANTIZE_KINDS)[number];

/** What a trained model is in a run: a teacher, the distilled student, the hard-label baseline, or a plain model. */
export type ModelRole = 'teacher' | 'student' | 'baseline' | 'model';

/** How soft-target logits are stored (config `softTargets.precision`): float32, the default, or float16. */
export const SOFT_TARGET_PRECISIONS = ['float32', 'float16'] as const;
export type SoftTargetPrecision = (typeof SOFT_TARGET_PRECISIONS)[number];

/** The tfjs backend a worker actually runs on: native TensorFlow, or a plain-tfjs fallback. */
export const TFJS_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackend = (typeof TFJS_BACKENDS)[number];

/** What a worker computes on (`CHRYSALIS_DEVICE`). */
export const DEVICES = ['cpu', 'gpu'] as const;
export type Device = (typeof DEVICES)[number];

/** The machine speeds were measured on: they mean nothing without it. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  /** SIMD flags that decide speed: avx2, avx512f, fma, … (empty where /proc/cpuinfo is missing). */
  simd: string[];
  node: string;
  tfjs: string;
}
