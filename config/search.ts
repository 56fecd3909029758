/** The student search's config, at its historical path: config/pipelines/search.ts. */
export * from './pipelines/search';
