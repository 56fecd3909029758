/**
 * Progress state kept by a workflow and served by its `progress` query. Training activities signal
 * `modelProgress` after every epoch, so the query alone shows epoch/total, loss, accuracy and ETA
 * (`temporal workflow query --name progress`).
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
