/**
 * The Temporal side of any training activity: resume point, heartbeats, checkpoints, cancellation and
 * progress signals, packaged as ml/train's hooks. Used by trainModel and by specialist training.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactStore } from '../storage/artifact-store';
import type { TrainHooks, TrainSnapshot } from '../ml/train';
import type { Logger } from '../config/logger';
import type { ModelProgressUpdate } from '../common/progress';
import { loadCheckpoint, saveCheckpoint } from './artifacts';

/** What a training activity heartbeats: small, and enough to resume. */
export interface TrainHeartbeat {
  epoch: number;
  batch?: number;
  checkpoint?: { key: string; sha256: string; bytes: number; epoch: number };
}

export interface DurableTrainingDeps {
  store: ArtifactStore;
  /** Save a checkpoint every this many epochs. @default 1 */
  checkpointEvery?: number;
  /**
   * …but not sooner than this many seconds after the previous one (or the start), so short epochs
   * do not spend their time uploading checkpoints. A crash loses at most max(K epochs, this). @default 10
   */
  checkpointMinSeconds?: number;
  /**
   * True once the worker was asked to shut down (SIGTERM): training checkpoints at the end of the
   * current epoch and hands the activity back (retryable `WorkerShutdown`) so another worker resumes.
   */
  draining?: () => boolean;
  /** Delivers per-epoch progress to the calling workflow (a `modelProgress` signal). Best effort. */
  reportProgress?: (workflow: { workflowId: string; runId: string }, update: ModelProgressUpdate) => Promise<void>;
}

export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (unit tests, benchmarks)
  }
}

export interface DurableTraining {
  /** The snapshot to resume from, if any. */
  resume: TrainSnapshot | undefined;
  hooks: TrainHooks;
  lastCheckpointEpoch: () => number;
}

/**
 * Finds the resume point — this activity's own last heartbeat, else the newest checkpoint stored for
 * the same recipe digest (a re-run workflow continues where a failed one stopped) — and builds hooks
 * that checkpoint before every heartbeat that names the checkpoint.
 */
export async function durableTraining(
  deps: DurableTrainingDeps,
  opts: { digest: string; name: string; epochs: number; log: Logger },
): Promise<DurableTraining> {
  const { store } = deps;
  const ctx = activityContext();
  const beat = ctx?.info.heartbeatDetails as TrainHeartbeat | undefined;
  let resume: TrainSnapshot | undefined;
  if (beat?.checkpoint) resume = await loadCheckpoint(store, beat.checkpoint);
  else {
    const newest = (await store.list(`checkpoints/${opts.digest}/`)).filter((k) => k.endsWith('.cht')).at(-1);
    if (newest) resume = await loadCheckpoint(store, newest);
  }
  if (resume)
    opts.log.info(
      { resumeEpoch: resume.epoch, epochs: opts.epochs },
      `resuming from checkpoint after epoch ${resume.epoch}`,
    );

  let lastCheckpoint: TrainHeartbeat['checkpoint'];
  let lastCheckpointAt = Date.now();
  const every = deps.checkpointEvery ?? 1;
  const minMs = (deps.checkpointMinSeconds ?? 10) * 1000;
  const hooks: TrainHooks = {
    throwIfCancelled: () => {
      if (ctx?.cancellationSignal.aborted) throw new CancelledFailure(`training of ${opts.name} cancelled`);
    },
    onBatch: (p) =>
      ctx?.heartbeat({
        epoch: p.epoch - 1,
        batch: p.batch,
        ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}),
      } satisfies TrainHeartbeat),
    onEpochEnd: async (stats, snapshot) => {
      opts.log.info(
        { ...stats, epochs: opts.epochs },
        `epoch ${stats.epoch}/${opts.epochs} loss ${stats.loss.toFixed(4)} acc ${(stats.trainAccuracy * 100).toFixed(2)}%`,
      );
      const draining = deps.draining?.() === true && stats.epoch < opts.epochs;
      if (
        draining ||
        (stats.epoch % every === 0 && stats.epoch < opts.epochs && Date.now() - lastCheckpointAt >= minMs)
      ) {
        // Write (and verify) the checkpoint before the heartbeat that names it.
        const ref = await saveCheckpoint(store, opts.digest, snapshot());
        lastCheckpoint = { ...ref, epoch: stats.epoch };
        lastCheckpointAt = Date.now();
      }
      ctx?.heartbeat({
        epoch: stats.epoch,
        ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}),
      } satisfies TrainHeartbeat);
      const wf = ctx?.info.workflowExecution;
      if (wf && deps.reportProgress) {
        const update: ModelProgressUpdate = {
          model: opts.name,
          epoch: stats.epoch,
          epochs: opts.epochs,
          loss: stats.loss,
          trainAccuracy: stats.trainAccuracy,
          epochSeconds: stats.seconds,
          ...(resume && stats.epoch === resume.epoch + 1 ? { resumedFromEpoch: resume.epoch } : {}),
        };
        deps
          .reportProgress(wf, update)
          .catch((err: unknown) => opts.log.warn({ err }, 'progress signal not delivered'));
      }
      if (draining) {
        opts.log.warn(
          { checkpointEpoch: stats.epoch },
          `worker shutting down: checkpointed epoch ${stats.epoch}, handing the activity back`,
        );
        throw ApplicationFailure.create({
          message: `worker shut down after checkpointing epoch ${stats.epoch} of ${opts.name}`,
          type: 'WorkerShutdown',
          nonRetryable: false,
        });
      }
    },
  };
  return { resume, hooks, lastCheckpointEpoch: () => lastCheckpoint?.epoch ?? 0 };
}

/** Removes a recipe's checkpoints once its model is published. */
export async function dropCheckpoints(store: ArtifactStore, digest: string): Promise<void> {
  for (const k of await store.list(`checkpoints/${digest}/`)) await store.delete(k);
}
