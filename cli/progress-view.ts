/** Renders a run's `progress` query as bars per model (TTY) or as change lines (pipes, CI logs). */
import type { ModelProgress, Progress } from '../common/progress';

function bar(fraction: number, width = 24): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

function eta(s: number | undefined): string {
  if (s === undefined) return '';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

export function modelLine(m: ModelProgress): string {
  const name = m.name.padEnd(22);
  const status =
    m.status === 'running'
      ? `${bar(m.epoch / Math.max(1, m.epochs))} ${String(m.epoch).padStart(3)}/${m.epochs}`
      : `${m.status.padEnd(24)} ${String(m.epochs).padStart(3)} ep`;
  const stats =
    m.loss !== undefined ? ` loss ${m.loss.toFixed(4)} acc ${((m.trainAccuracy ?? 0) * 100).toFixed(2)}%` : '';
  const rest = m.status === 'running' && m.etaSeconds !== undefined ? ` eta ${eta(m.etaSeconds)}` : '';
  const resumed = m.resumedFromEpoch ? ` (resumed at ${m.resumedFromEpoch})` : '';
  return `${name} ${status}${stats}${rest}${resumed}`;
}

export function render(p: Progress): string[] {
  const stage = p.stages.at(-1);
  return [`stage: ${stage ? `${stage.name} (${stage.status})` : 'starting'}`, ...p.models.map(modelLine)];
}

/** Redraws in place on a TTY; elsewhere prints only lines that changed. */
export class ProgressView {
  private drawn = 0;
  private last = new Set<string>();
  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: Progress): void {
    const lines = render(p);
    if (this.out.isTTY) {
      if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
      for (const l of lines) this.out.write(`\x1b[2K${l}\n`);
      this.drawn = lines.length;
    } else {
      for (const l of lines) if (!this.last.has(l)) this.out.write(`${l}\n`);
      this.last = new Set(lines);
    }
  }
}
