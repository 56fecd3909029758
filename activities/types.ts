/**
 * The activity requests that name an imported teacher (activities/teacher-import.ts), and, re-exported, the values
 * every activity exchanges (contracts/exchange.ts, where they are defined).
 */
import type { DataPlanRef, ModelRef } from '../contracts/exchange';
import type { EnsembleRule } from '../contracts/vocabulary';
import type { ImportedTeacherRef } from './teacher-import';

export type {
  BiasShiftResult,
  DataPlanRef,
  EvaluationSummary,
  MeasureRequest,
  MeasureResult,
  ModelRef,
  ShardsRef,
  SoftTargetParts,
  SoftTargetsRef,
  TrainRequest,
  TrainResult,
} from '../contracts/exchange';

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

export type { InferenceSpeed, ModelCost } from '../common/model-cost';
export type { MachineInfo } from '../contracts/vocabulary';
