/** The distillation run report: the JSON document a run stores, and its Markdown rendering. */
import type { DistillationConfig } from '../config/schemas';
import type { EvaluationSummary, MachineInfo, ModelCost, TrainResult } from '../activities/types';
import { WASM_FALLBACK_WARNING, pct, tableHead, tableRow, trainingNote } from './markdown';

export interface ModelOutcome {
  name: string;
  role: 'teacher' | 'baseline' | 'student' | 'model';
  temperature?: number;
  alpha?: number;
  training?: Pick<
    TrainResult,
    'cached' | 'resumedFromEpoch' | 'epochsTrained' | 'seconds' | 'backend' | 'backendFallback'
  > & {
    epochs: number;
    /** Seconds inside the training loop this attempt (sum of epoch times): compute, not orchestration. */
    loopSeconds: number;
  };
  evaluation: EvaluationSummary;
  manifestKey: string;
  /** Size and speed of the model's export (absent in reports written before they were measured). */
  cost?: ModelCost;
}

/** The teacher ensemble as one model: what distillation replaces. */
export interface EnsembleOutcome {
  members: string[];
  rule: 'arithmetic' | 'geometric';
  evaluation: Pick<EvaluationSummary, 'errors' | 'n' | 'accuracy' | 'perClassErrors'>;
  /** The members' costs summed (latencies add, throughput is the harmonic combination). */
  cost?: ModelCost;
}

/** A quantised copy of the exported student: its size and what quantisation cost in test errors. */
export interface QuantizedExport {
  quantize: 'float16' | 'uint8';
  modelJson: string;
  weights: string;
  exportBytes: number;
  errors: number;
  n: number;
}

/** The exported student and why it was the one. */
export interface ExportedModel {
  model: string;
  modelJson: string;
  weights: string;
  /** How the model was chosen, in words (validation errors, or test errors when no validation split). */
  chosenBy?: string;
  quantized?: QuantizedExport[];
}

export interface DistillationReport {
  workflowId: string;
  pipeline: 'distillationPipeline';
  config: DistillationConfig;
  softTargets: { key: string; cacheHit: boolean; inferenceSeconds: number };
  models: ModelOutcome[];
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  exported?: ExportedModel;
  /** The teacher ensemble's own test error and cost; absent for a single teacher or given soft targets. */
  ensemble?: EnsembleOutcome;
  /** Where the costs were measured. */
  machine?: MachineInfo;
  /** The dataset's class names, for per-class tables. */
  classNames?: string[];
  /** What the data split left that the user may not expect (a small transfer set, …). */
  dataWarnings?: string[];
}

export function renderDistillationReport(r: DistillationReport): string {
  const { config, softTargets } = r;
  const lines: string[] = [`# chrysalis run ${r.workflowId}`, ''];
  if (r.models.some((m) => m.training?.backendFallback)) lines.push(...WASM_FALLBACK_WARNING);
  for (const w of r.dataWarnings ?? []) lines.push(`> **Data split:** ${w}.`, '');
  lines.push(
    `Preset/config **${config.name}**, dataset **${config.data.dataset}**, seed ${config.seed}, ` +
      `wall time ${r.wallSeconds.toFixed(1)} s.`,
    `Soft targets \`${softTargets.key}\`: ` +
      `${softTargets.cacheHit ? 'cache hit (no teacher trained or run)' : 'computed this run'}; ` +
      `ensemble ${config.ensemble}; transfer set ${JSON.stringify(config.transfer)}.`,
    '',
    ...tableHead(['model', 'role', 'T', 'α', 'test errors', 'accuracy', 'epochs', 'train time', 'note']),
  );
  for (const m of r.models) {
    const t = m.training;
    lines.push(
      tableRow([
        m.name,
        m.role,
        m.temperature ?? '',
        m.alpha ?? '',
        `${m.evaluation.errors} / ${m.evaluation.n}`,
        pct(m.evaluation.accuracy),
        t?.epochs ?? '',
        t ? `${t.seconds.toFixed(1)} s` : '',
        t ? trainingNote(t) : 'given',
      ]),
    );
  }
  if (r.exported)
    lines.push(
      '',
      `Exported **${r.exported.model}** in TensorFlow.js layers format: ` +
        `\`${r.exported.modelJson}\` (+ \`${r.exported.weights}\`).`,
    );
  lines.push(...biasShiftSection(r.models));
  lines.push('', '## Per-class test errors', '');
  const C = r.models[0]?.evaluation.perClassErrors.length ?? 0;
  lines.push(...tableHead(['model', ...Array.from({ length: C }, (_, c) => c)]));
  for (const m of r.models) lines.push(tableRow([m.name, ...m.evaluation.perClassErrors]));
  return `${lines.join('\n')}\n`;
}

/** The class-omission variants' logit bias search, for the models that ran one. */
function biasShiftSection(models: readonly ModelOutcome[]): string[] {
  const shifted = models.filter((m) => m.evaluation.biasShift);
  if (shifted.length === 0) return [];
  const lines = ['', '## Bias shift for the classes missing from or alone in the transfer set', ''];
  lines.push(
    ...tableHead([
      'model',
      'classes',
      'errors before',
      'shift (validation)',
      'errors after',
      'test-optimal shift (for comparison)',
      'errors',
    ]),
  );
  for (const m of shifted) {
    const b = m.evaluation.biasShift!;
    lines.push(
      tableRow([
        m.name,
        b.classes.join(', '),
        m.evaluation.errors,
        b.validationShift,
        b.testErrorsWithValidationShift,
        b.testOptimalShift,
        b.testOptimalErrors,
      ]),
    );
  }
  return lines;
}
