// The workflow bundle's entry: every exported function is a workflow type.
export { distillationPipeline } from './distillation';
export type { DistillationInput, DistillationSummary } from './distillation';
export { specialistsPipeline } from './specialists';
export type { SpecialistsInput, SpecialistsSummary } from './specialists';
export { smokePipeline } from './smoke';
export type { SmokeSummary } from './smoke';
export { studentSearchPipeline } from './search';
export type { SearchInput, SearchSummary } from './search';
export { softTargetBlocksWorkflow } from './soft-target-fanout';
