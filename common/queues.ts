/** Task-queue names: the defaults every process agrees on (workers, CLI, workflows). */

/** Workflows and light activities (validation, cache look-ups, reports). */
export const DEFAULT_PIPELINE_QUEUE = 'chrysalis-pipeline';
/** Training and inference activities. */
export const DEFAULT_COMPUTE_QUEUE = 'chrysalis-compute';
