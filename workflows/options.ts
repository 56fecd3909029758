/** Queue names, timeouts and retry policies shared by the workflows. Plain data: sandbox-safe. */
import type { ActivityOptions } from '@temporalio/workflow';
import { describeArchitecture } from '../common/architecture';
import { NON_RETRYABLE } from '../common/failure-types';
import { DEFAULT_COMPUTE_QUEUE } from '../common/queues';
import type { TrainRequest } from '../contracts/exchange';
import type { RunOptions } from '../config/resolve';

export type { RunOptions };

/** Pipeline-queue activities: validation, look-ups, reports; short, retried a few times. */
export const LIGHT_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * Options for compute-queue activities: long timeouts, heartbeats, retries that resume. Built only
 * from options the validation activity has parsed, so none of these can be malformed.
 */
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
  const arch = describeArchitecture(r.spec);
  const how = r.distill ? `distilled at T=${r.distill.temperature}, α=${r.distill.alpha}` : 'hard labels';
  return `train ${r.name}: ${arch}, ${r.train.epochs} epochs, ${how}`;
}

/** One line for the Temporal UI: what the measuring activity does, for `count` models. */
export function describeMeasure(count: number): string {
  return `measure ${count} models: parameters, export size, latency and throughput (native, plain tfjs)`;
}
