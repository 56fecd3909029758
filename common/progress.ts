/**
 * The shapes of run progress: training activities send {@link ModelProgressUpdate}s, the workflow folds them into
 * a {@link Progress} for its `progress` query, and the CLI renders it. Types only, so the workflow sandbox can
 * import them.
 */

/**
 * `queued`: the model's activity is scheduled but has not reported yet (it waits for a compute slot);
 * `running` from its first progress update on.
 */
export type StageStatus = 'pending' | 'queued' | 'running' | 'done' | 'failed' | 'cached';

/**
 * One model's progress. An attempt sends one when it starts (epoch = the epoch it resumes after, no loss,
 * accuracy or epoch time yet), then one after every epoch.
 */
export interface ModelProgressUpdate {
  model: string;
  epoch: number;
  epochs: number;
  /** Absent on the start-of-attempt update, as are trainAccuracy and epochSeconds. */
  loss?: number;
  trainAccuracy?: number;
  epochSeconds?: number;
  /**
   * The newest epoch whose checkpoint is stored: where a retry resumes. `epoch` is the last epoch
   * finished; the two differ when checkpoints are spaced (CHRYSALIS_CHECKPOINT_EVERY, _MIN_SECONDS).
   */
  checkpointEpoch?: number;
  /** Set on the first update of an attempt that resumed from a checkpoint. */
  resumedFromEpoch?: number;
}

export interface ModelProgress {
  name: string;
  role: string;
  status: StageStatus;
  epoch: number;
  epochs: number;
  loss?: number;
  trainAccuracy?: number;
  /** Seconds left for this model at its recent epoch pace. */
  etaSeconds?: number;
  /** The newest checkpointed epoch: a failure now loses the epochs after it. */
  checkpointEpoch?: number;
  resumedFromEpoch?: number;
}

export interface Progress {
  stages: { name: string; status: StageStatus; startedAt?: string; finishedAt?: string }[];
  models: ModelProgress[];
}
