/** Typed storage failures: activities map them to Temporal failure types that retry policies can name. */

export class ArtifactNotFoundError extends Error {
  override readonly name = 'ArtifactNotFound';
  constructor(readonly key: string) {
    super(`artifact not found: ${key}`);
  }
}

/** The bytes read do not hash to what the manifest or reference promised. Never returned to callers as data. */
export class ArtifactCorruptError extends Error {
  override readonly name = 'ArtifactCorrupt';
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`artifact ${key} is corrupt: sha256 ${actual} does not match expected ${expected}`);
  }
}

/** The store could not be reached after retries (network, server down). Retryable at the activity level. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailable';
  constructor(
    readonly operation: string,
    readonly key: string,
    cause: unknown,
  ) {
    super(
      `object store unavailable during ${operation} ${key}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}
