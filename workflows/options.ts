/** Queue names, timeouts and retry policies shared by the workflows. Plain data: sandbox-safe. */
import type { ActivityOptions } from '@temporalio/workflow';
import type { TrainRequest } from '../activities/types';

/** @default task queue for workflows and light activities */
export const DEFAULT_PIPELINE_QUEUE = 'chrysalis-pipeline';
/** @default task queue for training and inference activities */
export const DEFAULT_COMPUTE_QUEUE = 'chrysalis-compute';

/** Failure types that no retry can fix. */
export const NON_RETRYABLE = [
  'InvalidInput',
  'NonFiniteLoss',
  'ArtifactNotFound',
  'DatasetUnavailable',
  'BackendUnavailable',
];

/** Pipeline-queue activities: validation, look-ups, reports; short, retried a few times. */
export const LIGHT_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Operational knobs a run can set beside its config; none changes results. */
export interface RunOptions {
  /** @default DEFAULT_COMPUTE_QUEUE */
  computeQueue?: string;
  /** A training activity that stays silent this long is retried from its last checkpoint. @default 60 */
  heartbeatTimeoutSeconds?: number;
  /** Upper bound on one training activity. @default 24 h */
  trainTimeoutMinutes?: number;
}

/** Options for compute-queue activities: long timeouts, heartbeats, retries that resume. */
export function computeActivityOptions(opts: RunOptions): ActivityOptions {
  return {
    taskQueue: opts.computeQueue ?? DEFAULT_COMPUTE_QUEUE,
    startToCloseTimeout: `${opts.trainTimeoutMinutes ?? 24 * 60} minutes`,
    heartbeatTimeout: `${opts.heartbeatTimeoutSeconds ?? 60} seconds`,
    retry: {
      initialInterval: '2 seconds',
      maximumInterval: '1 minute',
      maximumAttempts: 10,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

/** One line for the Temporal UI: what this training activity is. */
export function describeTraining(r: TrainRequest): string {
  const arch =
    r.spec.kind === 'mlp' ? `MLP ${r.spec.hidden.join('×')}` : `CNN ${r.spec.filters.join('-')}/${r.spec.dense}`;
  const how = r.distill ? `distilled at T=${r.distill.temperature}, α=${r.distill.alpha}` : 'hard labels';
  return `train ${r.name}: ${arch}, ${r.train.epochs} epochs, ${how}`;
}
