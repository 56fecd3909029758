/** Progress state kept by a workflow and served by its `progress` query. */

export type StageStatus = 'pending' | 'running' | 'done' | 'failed';

export interface ModelProgress {
  name: string;
  role: string;
  status: StageStatus;
  epochsPlanned: number;
}

export interface Progress {
  stages: { name: string; status: StageStatus; startedAt?: string; finishedAt?: string }[];
  models: ModelProgress[];
}

export class ProgressTracker {
  private readonly state: Progress = { stages: [], models: [] };

  snapshot(): Progress {
    return structuredClone(this.state);
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

  model(name: string, role: string, epochsPlanned: number): void {
    if (!this.state.models.some((m) => m.name === name)) this.state.models.push({ name, role, status: 'pending', epochsPlanned });
  }

  async track<T>(name: string, p: Promise<T>): Promise<T> {
    const m = this.state.models.find((x) => x.name === name);
    if (m) m.status = 'running';
    try {
      const out = await p;
      if (m) m.status = 'done';
      return out;
    } catch (err) {
      if (m) m.status = 'failed';
      throw err;
    }
  }
}
