/**
 * The failures that input (a config field, a user's file, a key from a request) can cause, as Temporal
 * ApplicationFailures named by common/failure-types.ts. Plain error values from @temporalio/common, no activity
 * context: data/, artifacts/ and activities/ all raise them, and activities/failures.ts maps everything else.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, invalidInputMessage, isRetryable } from '../common/failure-types';
import type { FailureTypeName } from '../common/failure-types';
import type { InputIssue } from '../config/resolve';
import { formatIssues } from '../config/resolve';

export function failure(type: FailureTypeName, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type,
    nonRetryable: !isRetryable(type),
    ...(details ? { details } : {}),
  });
}

/**
 * A request the workflow could not have known to be impossible until the data was seen: non-retryable. `what` is
 * `<field>: <why>`; the "invalid input: " prefix is added here (common/failure-types.ts), never by callers.
 */
export function invalidInput(what: string): ApplicationFailure {
  return failure(FailureType.InvalidInput, invalidInputMessage(what));
}

/** Input issues (each naming its field) as one non-retryable failure; the issues travel as details. */
export function invalidInputIssues(issues: readonly InputIssue[]): ApplicationFailure {
  return failure(FailureType.InvalidInput, formatIssues(issues), [issues]);
}
