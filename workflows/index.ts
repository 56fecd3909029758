// The workflow bundle's entry: every exported function is a workflow type.
export { distillationPipeline } from './distillation';
export type { DistillationInput, DistillationSummary } from './distillation';
export { smokePipeline } from './smoke';
export type { SmokeSummary } from './smoke';
