/**
 * The failure types chrysalis activities raise, and which of them no retry can fix. Plain data, so
 * workflows (retry policies) and activities (the mapping from typed errors) share one definition.
 */
export const FailureType = {
  /** The input cannot work: a bad field, data that does not fit the config. Names the field. */
  InvalidInput: 'InvalidInput',
  NonFiniteLoss: 'NonFiniteLoss',
  ArtifactNotFound: 'ArtifactNotFound',
  ArtifactCorrupt: 'ArtifactCorrupt',
  StoreUnavailable: 'StoreUnavailable',
  DatasetUnavailable: 'DatasetUnavailable',
  BackendUnavailable: 'BackendUnavailable',
  /** A deterministic error in the computation (sizes, shapes): the same request fails the same way. */
  ComputeError: 'ComputeError',
  /** The worker is shutting down after checkpointing; another worker resumes. */
  WorkerShutdown: 'WorkerShutdown',
  /** An http(s) source did not answer in time or answered 5xx: a later attempt may get it. */
  SourceUnavailable: 'SourceUnavailable',
} as const;

export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/**
 * The message of every InvalidInput failure: `invalid input: <field>: <why>`. The prefix is written here only, so
 * messages from the client's parse, the workflows and the activities' readers of user files all read alike.
 */
export function invalidInputMessage(what: string): string {
  return `invalid input: ${what}`;
}

/** Whether a retry could succeed, per type: the retry policies' `nonRetryableErrorTypes` come from here. */
const RETRYABLE: Record<FailureTypeName, boolean> = {
  InvalidInput: false,
  NonFiniteLoss: false,
  ArtifactNotFound: false,
  ArtifactCorrupt: true,
  StoreUnavailable: true,
  DatasetUnavailable: false,
  BackendUnavailable: false,
  ComputeError: false,
  WorkerShutdown: true,
  SourceUnavailable: true,
};

/** Failure types that no retry can fix. */
export const NON_RETRYABLE: FailureTypeName[] = (Object.keys(RETRYABLE) as FailureTypeName[]).filter(
  (t) => !RETRYABLE[t],
);

export function isRetryable(type: FailureTypeName): boolean {
  return RETRYABLE[type];
}
