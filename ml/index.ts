export { backendInfo, initBackend, BackendUnavailableError, resetBackendForTests } from './backend';
export type { BackendInfo, BackendOptions, RequestedBackend } from './backend';
export { DATASET_NAMES, DatasetError, loadDataset } from './datasets';
export type { Dataset, DatasetName, Split } from './datasets';
export { biasVector, metrics, predictLogits, searchBiasShift } from './evaluate';
export type { BiasShift, Metrics } from './evaluate';
export { encodeIdx, parseIdx, IdxFormatError } from './idx';
export { distillationLoss, softCrossEntropy, softKl, softTargetsAt } from './losses';
export { buildNet, exportWeights, importWeights, paramCount } from './models';
export type { BuiltInSpec, ModelSpec, Net } from './models';
export { Optimizer, learningRateAt, momentumAt } from './optimizers';
export type { LrSchedule, OptimizerSpec } from './optimizers';
export { Rng, deriveSeed } from './rng';
export { makePlan } from './splits';
export { VIEW_RULE, rowShift, viewImages, viewIndices, viewShift } from './views';
export type { ViewSpec } from './views';
export type { Plan, SplitSpec, TransferRule } from './splits';
export { NonFiniteLossError, train } from './train';
export type {
  EpochStats,
  ExampleData,
  InMemoryExamples,
  ShardStream,
  StreamPosition,
  TrainConfig,
  TrainData,
  TrainHooks,
  TrainSnapshot,
} from './train';
