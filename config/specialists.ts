/** The specialists pipeline's config, at its historical path: config/pipelines/specialists.ts. */
export * from './pipelines/specialists';
