/** Pipeline input resolution, at its historical path: the shared resolver and each pipeline's. */
export * from './pipelines/resolve-input';
export { resolveDistillationInput } from './pipelines/distillation';
export { resolveSearchInput } from './pipelines/search';
export { resolveSmokeInput } from './pipelines/smoke';
