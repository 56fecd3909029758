export { ConfigError, envSchema, loadEnv, repoRoot, secretValues } from './env';
export type { RuntimeEnv } from './env';
export { createLogger } from './logger';
export type { Logger, LoggerOptions } from './logger';
export { distillationPresets, smokePresets } from './presets';
export { applySetters, deepMerge, formatIssues, resolveDistillationInput, resolveSmokeInput } from './resolve';
export type { InputIssue, PipelineInput, Resolved } from './resolve';
export * from './schemas';
