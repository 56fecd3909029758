/**
 * Pipeline input schemas, at their historical path: the shared parts live in config/pipelines/shared.ts and
 * shared-data.ts, the distillation and smoke pipelines' own (schema, rules, resolver) in config/pipelines/.
 */
export * from './pipelines/shared';
export * from './pipelines/shared-data';
export * from './pipelines/distillation';
export * from './pipelines/smoke';
