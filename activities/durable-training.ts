/**
 * The Temporal side of any training activity: resume point, heartbeats, checkpoints, cancellation and
 * progress signals, packaged as ml/train's hooks. Used by trainModel and by specialist training.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import type { ArtifactStore } from '../storage/artifact-store';
import type { BackendInfo } from '../ml/backend';
import type { StepPlan } from '../ml/compiled-step';
import type { EpochStats, TrainHooks, TrainSnapshot } from '../ml/train';
import type { Logger } from '../config/logger';
import type { ModelProgressUpdate } from '../common/progress';
import { keys } from '../common/store-keys';
import { findModel, loadCheckpoint, saveCheckpoint } from '../artifacts/models';
import { partialEpoch } from '../artifacts/digests';
import { HOLD_EPOCH, holdUntilDrained } from './fault-injection';
import { FailureType, failure } from './failures';
import type { ModelRef, TrainResult } from '../contracts/exchange';

/** What a training activity heartbeats: small, and enough to resume. */
export interface TrainHeartbeat {
  epoch: number;
  batch?: number;
  /** `window`: windows into epoch `epoch` + 1 (a streaming run's mid-epoch checkpoint). */
  checkpoint?: { key: string; sha256: string; bytes: number; epoch: number; window?: number };
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

/** Heartbeats when running as an activity (a no-op in tests that call the functions directly). */
export const activityHeartbeat = (details: unknown): void => activityContext()?.heartbeat(details);

export interface DurableTraining {
  /** The snapshot to resume from, if any. */
  resume: TrainSnapshot | undefined;
  hooks: TrainHooks;
  lastCheckpointEpoch: () => number;
  /** The step path training took (ml/compiled-step.ts), once it has taken a step. */
  stepPlan: () => StepPlan | undefined;
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
  /** A run stopping after this epoch cannot resume from a later checkpoint (another, longer run's). */
  upTo = Infinity,
): Promise<TrainSnapshot | undefined> {
  // A mid-epoch checkpoint of epoch upTo + 1 is past the stop.
  const fits = (p: Position) => p.epoch < upTo || (p.epoch === upTo && p.window === 0);
  const stored = await store.list(`${keys.checkpointDir(digest)}/`);
  const newest = stored
    .map((key) => ({ key, at: keys.checkpointPosition(key) }))
    .filter((c): c is { key: string; at: Position } => c.at !== undefined && fits(c.at))
    .at(-1);
  const told = reported ? { epoch: reported.epoch, window: reported.window ?? 0 } : undefined;
  if (newest && (!told || later(newest.at, told))) return loadCheckpoint(store, newest.key);
  return reported && told && fits(told) ? loadCheckpoint(store, reported) : undefined;
}

/** Epochs done, and windows of the next one. */
type Position = { epoch: number; window: number };
const later = (a: Position, b: Position) => a.epoch > b.epoch || (a.epoch === b.epoch && a.window > b.window);

/**
 * Finds the resume point — the newest checkpoint of this recipe (see {@link resumePoint}) — and
 * builds hooks that checkpoint before every heartbeat that names the checkpoint.
 */
export async function durableTraining(deps: DurableTrainingDeps, opts: TrainingRun): Promise<DurableTraining> {
  const ctx = activityContext();
  const beat = ctx?.info.heartbeatDetails as TrainHeartbeat | undefined;
  const resume = await resumePoint(deps.store, opts.digest, beat?.checkpoint, opts.stopAfterEpoch);
  if (resume)
    opts.log.info(
      { resumeEpoch: resume.epoch, resumeWindow: resume.position?.window, epochs: opts.epochs },
      `resuming from checkpoint after epoch ${resume.epoch}` +
        (resume.position ? ` and ${resume.position.window} windows of epoch ${resume.epoch + 1}` : ''),
    );
  const state: CheckpointState = { last: undefined, at: Date.now() };
  // The workflow shows the model as queued until this first update: it now holds a compute slot.
  sendProgress(deps, ctx, opts.log, {
    model: opts.name,
    epoch: resume?.epoch ?? 0,
    epochs: opts.stopAfterEpoch ?? opts.epochs, // a search rung's progress runs to its stop
    ...(resume ? { checkpointEpoch: resume.epoch, resumedFromEpoch: resume.epoch } : {}),
  });
  let plan: StepPlan | undefined;
  const hooks: TrainHooks = {
    onStepPlan: (p) => {
      plan = p;
      if (p.path === 'compiled') opts.log.info('training step: compiled, one TensorFlow call per step');
      else opts.log.warn({ reason: p.reason }, `training step: eager, op by op (${p.reason})`);
    },
    throwIfCancelled: () => {
      if (ctx?.cancellationSignal.aborted) throw new CancelledFailure(`training of ${opts.name} cancelled`);
    },
    onBatch: (p) => ctx?.heartbeat(heartbeat(p.epoch - 1, state, p.batch)),
    onEpochEnd: (stats, snapshot) => endOfEpoch({ deps, ctx, opts, resume, state }, stats, snapshot),
    onWindowEnd: (at, snapshot) => endOfWindow({ deps, ctx, opts, resume, state }, at, snapshot),
  };
  return { resume, hooks, lastCheckpointEpoch: () => state.last?.epoch ?? 0, stepPlan: () => plan };
}

/** Signals progress to the calling workflow without waiting: best effort, a lost update only delays the view. */
function sendProgress(
  deps: DurableTrainingDeps,
  ctx: Context | undefined,
  log: Logger,
  update: ModelProgressUpdate,
): void {
  const wf = ctx?.info.workflowExecution;
  if (!wf || !deps.reportProgress) return;
  deps.reportProgress(wf, update).catch((err: unknown) => log.warn({ err }, 'progress signal not delivered'));
}

/** One training run as durable training sees it; `stopAfterEpoch` only for a partial run. */
interface TrainingRun {
  digest: string;
  name: string;
  epochs: number;
  log: Logger;
  stopAfterEpoch?: number | undefined;
}

/** The newest checkpoint this attempt wrote, and when. */
interface CheckpointState {
  last: TrainHeartbeat['checkpoint'];
  at: number;
}

function heartbeat(epoch: number, state: CheckpointState, batch?: number): TrainHeartbeat {
  return { epoch, ...(batch !== undefined ? { batch } : {}), ...(state.last ? { checkpoint: state.last } : {}) };
}

interface EpochContext {
  deps: DurableTrainingDeps;
  ctx: Context | undefined;
  opts: TrainingRun;
  resume: TrainSnapshot | undefined;
  state: CheckpointState;
}

type EpochEnd = NonNullable<TrainHooks['onEpochEnd']>;

/** Log, checkpoint when due (always when draining), heartbeat, signal progress; hand back when draining. */
async function endOfEpoch(
  { deps, ctx, opts, resume, state }: EpochContext,
  stats: Parameters<EpochEnd>[0],
  snapshot: Parameters<EpochEnd>[1],
): Promise<void> {
  const acc = `acc ${(stats.trainAccuracy * 100).toFixed(2)}%`;
  opts.log.info(
    { ...stats, epochs: opts.epochs },
    `epoch ${stats.epoch}/${opts.epochs} loss ${stats.loss.toFixed(4)} ${acc}`,
  );
  if (stats.epoch === HOLD_EPOCH)
    await holdUntilDrained({
      what: 'training',
      fields: { epoch: stats.epoch },
      variable: 'CHRYSALIS_FAULT_HOLD_EPOCH',
      log: opts.log,
      ctx,
      details: () => heartbeat(stats.epoch, state),
      draining: deps.draining,
    });
  const draining = deps.draining?.() === true && stats.epoch < (opts.stopAfterEpoch ?? opts.epochs);
  const every = deps.checkpointEvery ?? 1;
  const due = stats.epoch % every === 0 && Date.now() - state.at >= (deps.checkpointMinSeconds ?? 10) * 1000;
  // A partial run always checkpoints its last epoch: the next, longer request resumes from it.
  const stopping = stats.epoch === opts.stopAfterEpoch;
  if (draining || stopping || (due && stats.epoch < opts.epochs)) {
    // Write (and verify) the checkpoint before the heartbeat that names it.
    const ref = await saveCheckpoint(deps.store, opts.digest, snapshot());
    state.last = { ...ref, epoch: stats.epoch };
    state.at = Date.now();
  }
  ctx?.heartbeat(heartbeat(stats.epoch, state));
  const checkpointed = state.last?.epoch ?? resume?.epoch;
  sendProgress(deps, ctx, opts.log, {
    model: opts.name,
    epoch: stats.epoch,
    epochs: opts.stopAfterEpoch ?? opts.epochs,
    loss: stats.loss,
    trainAccuracy: stats.trainAccuracy,
    epochSeconds: stats.seconds,
    ...(checkpointed !== undefined ? { checkpointEpoch: checkpointed } : {}),
    ...(resume && stats.epoch === resume.epoch + 1 ? { resumedFromEpoch: resume.epoch } : {}),
  });
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
}

/**
 * Inside a streaming epoch: checkpoint when one is due by time (or the worker is draining, then hand back), so a
 * long epoch loses at most a window or `checkpointMinSeconds`; heartbeat either way.
 */
async function endOfWindow(
  { deps, ctx, opts, state }: EpochContext,
  at: { epoch: number; window: number; windows: number },
  snapshot: () => TrainSnapshot,
): Promise<void> {
  const draining = deps.draining?.() === true;
  if (draining || Date.now() - state.at >= (deps.checkpointMinSeconds ?? 10) * 1000) {
    const ref = await saveCheckpoint(deps.store, opts.digest, snapshot());
    state.last = { ...ref, epoch: at.epoch - 1, window: at.window };
    state.at = Date.now();
    opts.log.info({ ...at }, `checkpoint ${at.window}/${at.windows} windows into epoch ${at.epoch}`);
  }
  ctx?.heartbeat(heartbeat(at.epoch - 1, state));
  if (draining)
    throw failure(
      FailureType.WorkerShutdown,
      `worker shut down after checkpointing ${at.window} windows of epoch ${at.epoch} of ${opts.name}`,
    );
}

/** What one training activity supplies to {@link runDurableTraining}. */
export interface TrainingSteps<X> {
  /** The extras a result carries, for an identical model found already published. */
  reused: (model: ModelRef) => Promise<X>;
  /** Trains from `training.resume` with `training.hooks`, publishes, and returns what it published. */
  train: (training: DurableTraining, log: Logger) => Promise<{ model: ModelRef; history: EpochStats[] } & X>;
}

export interface TrainingDeps extends DurableTrainingDeps {
  logger: Logger;
  backend: BackendInfo;
}

/**
 * The skeleton every training activity shares: a logger bound to the activity, reuse of an identical
 * published model, durable training (resume, heartbeats, checkpoints, cancellation, progress), the
 * checkpoints dropped once published, and the failure logged with what was saved.
 */
export async function runDurableTraining<X>(
  deps: TrainingDeps,
  run: { activity: string; name: string; train: { epochs: number }; digest: string; stopAfterEpoch?: number },
  steps: TrainingSteps<X>,
): Promise<TrainResult & X> {
  const started = Date.now();
  const ctx = activityContext();
  const epochs = run.train.epochs;
  const log = deps.logger.child({
    activity: run.activity,
    model: run.name,
    digest: run.digest,
    ...(ctx ? { workflowId: ctx.info.workflowExecution?.workflowId, attempt: ctx.info.attempt } : {}),
  });
  const done = (r: Omit<TrainResult, 'seconds' | 'backend' | 'backendFallback'> & X): TrainResult & X => ({
    ...r,
    seconds: (Date.now() - started) / 1000,
    backend: deps.backend.backend,
    backendFallback: deps.backend.fallback,
  });
  const stop = partialEpoch(run);
  const existing = await findModel(deps.store, run.digest, stop);
  if (existing) {
    log.info('identical model already published; reusing it');
    const extras = await steps.reused(existing);
    return done({ model: existing, ...extras, cached: true, resumedFromEpoch: 0, epochsTrained: 0, history: [] });
  }
  const training = await durableTraining(deps, {
    digest: run.digest,
    name: run.name,
    epochs,
    log,
    stopAfterEpoch: stop,
  });
  try {
    const published = await steps.train(training, log);
    // A partial run keeps its checkpoints: the next rung resumes from them.
    if (stop === undefined) await dropCheckpoints(deps.store, run.digest);
    const resumedFromEpoch = training.resume?.epoch ?? 0;
    const epochsTrained = (stop ?? epochs) - resumedFromEpoch;
    log.info({ epochsTrained, resumedFromEpoch }, 'model published');
    const step = training.stepPlan();
    return done({ ...published, cached: false, resumedFromEpoch, epochsTrained, ...(step ? { step } : {}) });
  } catch (err) {
    if (err instanceof CancelledFailure)
      log.warn({ lastCheckpointEpoch: training.lastCheckpointEpoch() }, 'training cancelled');
    else log.error({ err }, 'training failed');
    throw err;
  }
}

/** Removes a recipe's checkpoints once its model is published. */
export async function dropCheckpoints(store: ArtifactStore, digest: string): Promise<void> {
  for (const k of await store.list(`${keys.checkpointDir(digest)}/`)) await store.delete(k);
}
