/**
 * The requests that name teachers, imported ones included (ImportedTeacherRef, activities/teacher-import.ts). Types
 * only, in a file of their own so that types.ts, soft-target-blocks.ts and soft-target-parts.ts need not import
 * each other (or teacher-import.ts) for them; they join contracts/exchange.ts when ImportedTeacherRef does.
 */
import type { Member } from '../common/soft-target-blocks';
import type { SoftTargetFormat } from '../common/soft-target-format';
import type { DataPlanRef, ModelRef } from '../contracts/exchange';
import type { EnsembleRule } from '../contracts/vocabulary';
import type { ImportedTeacherRef } from './teacher-import';

/** What a soft-target computation is asked for: the cache key, data, the teachers in order, the format. */
export interface SoftTargetsRequest {
  key: string;
  data: DataPlanRef;
  teachers: ModelRef[];
  /** Teachers from outside, after the given ones. @default [] */
  imported?: ImportedTeacherRef[];
  /** @default full float32 logits */
  format?: SoftTargetFormat;
}

/** One ensemble member: a model trained or given here, or a teacher imported from outside. */
export type TeacherMember = Member<ModelRef, ImportedTeacherRef>;

/**
 * A model that can be scored: one trained here, or a teacher imported from outside (a SavedModel or a tfjs model,
 * run on the same inputs as for its soft targets). An imported `.npy` holds logits of the transfer set only: it has
 * no model to score.
 */
export type ScoredModel = { model: ModelRef } | { imported: ImportedTeacherRef };

export type EvaluateRequest = ScoredModel & {
  name: string;
  data: DataPlanRef;
  /** Classes whose logit bias is searched (class-omission variants). */
  biasClasses?: number[];
};

/** The teacher ensemble to score: trained or given models, then imported teachers, combined by `rule`. */
export interface EnsembleRequest {
  name: string;
  models: ModelRef[];
  /** @default [] */
  imported?: ImportedTeacherRef[];
  rule: EnsembleRule;
  data: DataPlanRef;
}
