/**
 * Maps typed errors from ml/ and storage/ to Temporal ApplicationFailure types that retry policies
 * and users can name (common/failure-types.ts). Errors no retry can fix — bad input, sizes and shapes
 * that fail the same way every time — are non-retryable; everything else stays retryable
 * (infrastructure hiccups).
 */
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../common/failure-types';
import { failure, invalidInput } from '../data/input-failures';
import { DatasetError } from '../ml/datasets';
import { BackendUnavailableError } from '../ml/backend';
import { SplitError } from '../ml/splits';
import { NonFiniteLossError } from '../ml/train';
import { ArtifactCorruptError, ArtifactNotFoundError, StoreUnavailableError } from '../storage/errors';
import { TensorCodecError } from '../storage/tensor-codec';

export { FailureType };
export { failure, invalidInput, invalidInputIssues } from '../data/input-failures';

const DETERMINISTIC_MESSAGES = [
  /^Error in \w+:/, // tfjs op argument checks
  /Operands could not be broadcast/,
  /shapes? .*(must match|do not match|incompatible)/i,
  /Invalid TF_Status: 3\b/, // TF_INVALID_ARGUMENT from the native backend
];

/**
 * Errors of the computation itself that a retry repeats exactly: typed-array sizes (RangeError) and
 * tfjs's shape and argument checks, which throw plain Errors with these messages.
 */
function isDeterministicComputeError(err: unknown): err is Error {
  if (err instanceof RangeError) return true;
  if (!(err instanceof Error)) return false;
  return DETERMINISTIC_MESSAGES.some((re) => re.test(err.message));
}

export function toFailure(err: unknown, context: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof NonFiniteLossError)
    return failure(FailureType.NonFiniteLoss, `${context}: ${err.message}`, [{ epoch: err.epoch, batch: err.batch }]);
  if (err instanceof ArtifactNotFoundError) return failure(FailureType.ArtifactNotFound, err.message);
  if (err instanceof ArtifactCorruptError) return failure(FailureType.ArtifactCorrupt, err.message);
  if (err instanceof StoreUnavailableError) return failure(FailureType.StoreUnavailable, err.message);
  if (err instanceof SplitError) return invalidInput(`${err.message}`);
  // The store verified the bytes' digest, so they are as written: a key from input named the wrong object.
  if (err instanceof TensorCodecError) return invalidInput(`${context}: ${err.message}`);
  if (err instanceof DatasetError) return failure(FailureType.DatasetUnavailable, err.message);
  if (err instanceof BackendUnavailableError) return failure(FailureType.BackendUnavailable, err.message);
  if (isDeterministicComputeError(err))
    return failure(
      FailureType.ComputeError,
      `${context}: ${err.name}: ${err.message} (a retry would fail the same way)`,
    );
  return err;
}

/** Activities written as `(deps, request)`, once their dependencies are bound. */
export type Bound<D, T> = {
  [K in keyof T]: T[K] extends (deps: D, req: infer Q) => Promise<infer R> ? (req: Q) => Promise<R> : never;
};

/** Binds a worker's dependencies to activities written as `(deps, request)`, each named by its key and mapped. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any request type
export function bindActivities<D, T extends Record<string, (deps: D, req: any) => Promise<unknown>>>(
  deps: D,
  activities: T,
): Bound<D, T> {
  const bound = Object.entries(activities).map(([name, fn]) => [
    name,
    mapFailures(name, (req: unknown) => fn(deps, req)),
  ]);
  return Object.fromEntries(bound) as Bound<D, T>;
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
