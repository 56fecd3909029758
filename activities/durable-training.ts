/**
 * The Temporal side of any training activity: resume point, heartbeats, checkpoints, cancellation and
 * progress signals, packaged as ml/train's hooks. Used by trainModel and by specialist training.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import type { ArtifactStore } from '../storage/artifact-store';
import type { TrainHooks, TrainSnapshot } from '../ml/train';
import type { Logger } from '../config/logger';
import type { ModelProgressUpdate } from '../common/progress';
import { keys } from '../common/store-keys';
import { loadCheckpoint, saveCheckpoint } from './artifacts';
import { FailureType, failure } from './failures';

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

/** The epoch a checkpoint key names (`…/epoch-00002.cht` → 2). */
function checkpointEpoch(key: string): number {
  return Number(/epoch-(\d+)\.cht$/.exec(key)?.[1] ?? 0);
}

/**
 * The newest checkpoint of this recipe: the one the last heartbeat named, or a newer one in the store.
 * Heartbeats are throttled, so a worker killed right after a checkpoint may never have reported it;
 * every checkpoint of a digest comes from the same deterministic run, so the newest stored one is as
 * valid a resume point as the reported one, and a later one. Reads verify each object's sha256.
 */
async function resumePoint(
  store: ArtifactStore,
  digest: string,
  reported: TrainHeartbeat['checkpoint'],
): Promise<TrainSnapshot | undefined> {
  const newest = (await store.list(`${keys.checkpointDir(digest)}/`)).filter((k) => k.endsWith('.cht')).at(-1);
  if (newest && checkpointEpoch(newest) > (reported?.epoch ?? 0)) return loadCheckpoint(store, newest);
  return reported ? loadCheckpoint(store, reported) : undefined;
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
  const resume = await resumePoint(store, opts.digest, beat?.checkpoint);
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
        `epoch ${stats.epoch}/${opts.epochs} loss ${stats.loss.toFixed(4)} ` +
          `acc ${(stats.trainAccuracy * 100).toFixed(2)}%`,
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
      const checkpointed = lastCheckpoint?.epoch ?? resume?.epoch;
      if (wf && deps.reportProgress) {
        const update: ModelProgressUpdate = {
          model: opts.name,
          epoch: stats.epoch,
          epochs: opts.epochs,
          loss: stats.loss,
          trainAccuracy: stats.trainAccuracy,
          epochSeconds: stats.seconds,
          ...(checkpointed !== undefined ? { checkpointEpoch: checkpointed } : {}),
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
        throw failure(
          FailureType.WorkerShutdown,
          `worker shut down after checkpointing epoch ${stats.epoch} of ${opts.name}`,
        );
      }
    },
  };
  return { resume, hooks, lastCheckpointEpoch: () => lastCheckpoint?.epoch ?? 0 };
}

/** Removes a recipe's checkpoints once its model is published. */
export async function dropCheckpoints(store: ArtifactStore, digest: string): Promise<void> {
  for (const k of await store.list(`${keys.checkpointDir(digest)}/`)) await store.delete(k);
}
