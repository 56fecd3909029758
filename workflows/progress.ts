/**
 * Progress state kept by a workflow and served by its `progress` query. Training activities signal
 * `modelProgress` after every epoch, so the query alone shows epoch/total, loss, accuracy and ETA
 * (`temporal workflow query --name progress`).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export type StageStatus = 'pending' | 'running' | 'done' | 'failed' | 'cached';

export interface ModelProgressUpdate {
  model: string;
  epoch: number;
  epochs: number;
  loss: number;
  trainAccuracy: number;
  epochSeconds: number;
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

export const progressQuery = defineQuery<Progress>('progress');
export const modelProgressSignal = defineSignal<[ModelProgressUpdate]>('modelProgress');

export class ProgressTracker {
  private readonly state: Progress = { stages: [], models: [] };

  snapshot(): Progress {
    return JSON.parse(JSON.stringify(this.state)) as Progress; // structuredClone is not in the workflow sandbox
  }

  async stage<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const s: Progress['stages'][number] = { name, status: 'running', startedAt: new Date(Date.now()).toISOString() };
    this.state.stages.push(s);
    try {
      const out = await fn();
      s.status = 'done';
      return out;
    } catch (err) {
      s.status = 'failed';
      throw err;
    } finally {
      s.finishedAt = new Date(Date.now()).toISOString();
    }
  }

  model(name: string, role: string, epochs: number): void {
    if (!this.state.models.some((m) => m.name === name))
      this.state.models.push({ name, role, status: 'pending', epoch: 0, epochs });
  }

  update(u: ModelProgressUpdate): void {
    const m = this.state.models.find((x) => x.name === u.model);
    if (!m) return;
    m.status = 'running';
    m.epoch = u.epoch;
    m.epochs = u.epochs;
    m.loss = u.loss;
    m.trainAccuracy = u.trainAccuracy;
    m.etaSeconds = Math.max(0, (u.epochs - u.epoch) * u.epochSeconds);
    if (u.checkpointEpoch !== undefined) m.checkpointEpoch = u.checkpointEpoch;
    if (u.resumedFromEpoch !== undefined) m.resumedFromEpoch = u.resumedFromEpoch;
  }

  async track<T extends { cached?: boolean }>(name: string, p: Promise<T>): Promise<T> {
    const m = this.state.models.find((x) => x.name === name);
    if (m) m.status = 'running';
    try {
      const out = await p;
      if (m) {
        m.status = out.cached ? 'cached' : 'done';
        m.epoch = m.epochs;
        m.etaSeconds = 0;
      }
      return out;
    } catch (err) {
      if (m) m.status = 'failed';
      throw err;
    }
  }
}
