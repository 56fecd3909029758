/** Named experiment presets, at their historical path: each pipeline's live in config/pipelines/. */
export { distillationPresets } from './pipelines/distillation-presets';
export { searchPresets } from './pipelines/search';
export { smokePresets } from './pipelines/smoke';
