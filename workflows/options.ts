/** Queue names, timeouts and retry policies shared by the workflows. Plain data: sandbox-safe. */

/** @default task queue for workflows and light activities */
export const DEFAULT_PIPELINE_QUEUE = 'chrysalis-pipeline';
/** @default task queue for training and inference activities */
export const DEFAULT_COMPUTE_QUEUE = 'chrysalis-compute';

/** Failure types that no retry can fix. */
export const NON_RETRYABLE = ['InvalidInput', 'NonFiniteLoss', 'ArtifactNotFound', 'DatasetUnavailable', 'BackendUnavailable'];

/** Operational knobs a run can set beside its config; none changes results. */
export interface RunOptions {
  /** @default DEFAULT_COMPUTE_QUEUE */
  computeQueue?: string;
  /** A training activity that stays silent this long is retried from its last checkpoint. @default 60 */
  heartbeatTimeoutSeconds?: number;
  /** Upper bound on one training activity. @default 24 h */
  trainTimeoutMinutes?: number;
}
