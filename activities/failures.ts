/**
 * Maps typed errors from ml/ and storage/ to Temporal ApplicationFailure types that retry policies
 * and users can name. Everything not listed stays retryable (infrastructure hiccups).
 */
import { ApplicationFailure } from '@temporalio/common';
import { DatasetError } from '../ml/datasets';
import { BackendUnavailableError } from '../ml/backend';
import { NonFiniteLossError } from '../ml/train';
import { ArtifactCorruptError, ArtifactNotFoundError, StoreUnavailableError } from '../storage/errors';

/** Failure types chrysalis activities raise. Non-retryable ones are also listed in retry policies. */
export const FailureType = {
  InvalidInput: 'InvalidInput',
  NonFiniteLoss: 'NonFiniteLoss',
  ArtifactNotFound: 'ArtifactNotFound',
  ArtifactCorrupt: 'ArtifactCorrupt',
  StoreUnavailable: 'StoreUnavailable',
  DatasetUnavailable: 'DatasetUnavailable',
  BackendUnavailable: 'BackendUnavailable',
} as const;

/** A request the workflow could not have known to be impossible until the data was seen: non-retryable. */
export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: FailureType.InvalidInput, nonRetryable: true });
}

export function toFailure(err: unknown, context: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof NonFiniteLossError) {
    return ApplicationFailure.create({
      message: `${context}: ${err.message}`,
      type: FailureType.NonFiniteLoss,
      nonRetryable: true,
      details: [{ epoch: err.epoch, batch: err.batch }],
    });
  }
  if (err instanceof ArtifactNotFoundError)
    return ApplicationFailure.create({ message: err.message, type: FailureType.ArtifactNotFound, nonRetryable: true });
  if (err instanceof ArtifactCorruptError)
    return ApplicationFailure.create({ message: err.message, type: FailureType.ArtifactCorrupt, nonRetryable: false });
  if (err instanceof StoreUnavailableError)
    return ApplicationFailure.create({ message: err.message, type: FailureType.StoreUnavailable, nonRetryable: false });
  if (err instanceof DatasetError)
    return ApplicationFailure.create({
      message: err.message,
      type: FailureType.DatasetUnavailable,
      nonRetryable: true,
    });
  if (err instanceof BackendUnavailableError)
    return ApplicationFailure.create({
      message: err.message,
      type: FailureType.BackendUnavailable,
      nonRetryable: true,
    });
  return err;
}

/** Wraps an activity so its typed errors reach Temporal as named failures. */
export function mapFailures<A extends unknown[], R>(
  name: string,
  fn: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toFailure(err, name);
    }
  };
}
