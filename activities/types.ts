/**
 * The values every activity exchanges, re-exported from contracts/exchange.ts where they are defined (the requests
 * that name an imported teacher are in teacher-requests.ts).
 */
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

export type { InferenceSpeed, ModelCost } from '../common/model-cost';
export type { MachineInfo } from '../contracts/vocabulary';
