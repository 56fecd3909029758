/**
 * Progress state kept by a workflow and served by its `progress` query. Training activities signal
 * `modelProgress` when an attempt starts and after every epoch, so the query alone shows which models wait for a
 * compute slot (`queued`), epoch/total, loss, accuracy and ETA (`temporal workflow query --name progress`).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ModelProgressUpdate, Progress } from '../common/progress';

export type { ModelProgress, ModelProgressUpdate, Progress, StageStatus } from '../common/progress';

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

  /** A model's first update (an attempt starting, or its first epoch) turns it from queued to running. */
  update(u: ModelProgressUpdate): void {
    const m = this.state.models.find((x) => x.name === u.model);
    if (!m) return;
    m.status = 'running';
    m.epoch = u.epoch;
    m.epochs = u.epochs;
    if (u.loss !== undefined) m.loss = u.loss;
    if (u.trainAccuracy !== undefined) m.trainAccuracy = u.trainAccuracy;
    if (u.epochSeconds !== undefined) m.etaSeconds = Math.max(0, (u.epochs - u.epoch) * u.epochSeconds);
    if (u.checkpointEpoch !== undefined) m.checkpointEpoch = u.checkpointEpoch;
    if (u.resumedFromEpoch !== undefined) m.resumedFromEpoch = u.resumedFromEpoch;
  }

  /**
   * Follows a model's scheduled activity: `queued` until its first progress update (it may wait for a compute
   * slot), then `done`, `cached` or `failed` as the activity ends.
   */
  async track<T extends { cached?: boolean }>(name: string, p: Promise<T>): Promise<T> {
    const m = this.state.models.find((x) => x.name === name);
    if (m?.status === 'pending') m.status = 'queued';
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
