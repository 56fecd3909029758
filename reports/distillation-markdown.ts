/** The distillation run report: the JSON document a run stores, and its Markdown rendering. */
import { describeArchitecture } from '../common/architecture';
import type { DistillationConfig } from '../config/schemas';
import type { EvaluationSummary, ScoredImportKind, TrainResult } from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';
import type { EnsembleRule, MachineInfo, ModelRole, QuantizeKind } from '../contracts/vocabulary';
import { WASM_FALLBACK_WARNING, escapeCell, pct, tableHead, tableRow, trainingNote } from './markdown';
import { formatBytes } from './compression';
import type { SoftTargetStorage } from '../common/soft-target-format';
import { ENSEMBLE_NAME, compressionHeadline, compressionSection, exportedSection } from './distillation-export';

export { ENSEMBLE_NAME, compressionHeadline, costRows, distillationVerdict } from './distillation-export';

export interface ModelOutcome {
  name: string;
  role: ModelRole;
  temperature?: number;
  alpha?: number;
  training?: Pick<
    TrainResult,
    'cached' | 'resumedFromEpoch' | 'epochsTrained' | 'seconds' | 'backend' | 'backendFallback' | 'step'
  > & {
    epochs: number;
    /** Seconds inside the training loop this attempt (sum of epoch times): compute, not orchestration. */
    loopSeconds: number;
  };
  evaluation: EvaluationSummary;
  /** The model's manifest; for an imported teacher, its import.json. */
  manifestKey: string;
  /** Size and speed of the model's export (absent in reports written before they were measured, and for imports). */
  cost?: ModelCost;
  /** A teacher imported from outside: its kind, the sha256 of its files, and its config field. */
  imported?: { kind: ScoredImportKind; sha256: string; field: string };
}

/** A teacher that could not be scored on the test set (an imported `.npy`). */
export interface NotEvaluatedTeacher {
  name: string;
  field: string;
  reason: string;
}

/** The teacher ensemble as one model: what distillation replaces. */
export interface EnsembleOutcome {
  members: string[];
  rule: EnsembleRule;
  evaluation: Pick<EvaluationSummary, 'errors' | 'n' | 'accuracy' | 'perClassErrors'>;
  /** The members' costs summed (latencies add, throughput is the harmonic combination). */
  cost?: ModelCost;
}

/** A quantised copy of the exported student: its size and what quantisation cost in test errors. */
export interface QuantizedExport {
  quantize: QuantizeKind;
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
  softTargets: {
    key: string;
    cacheHit: boolean;
    inferenceSeconds: number;
    /** How they are stored and what that costs (absent in reports written before the format option). */
    storage?: SoftTargetStorage;
  };
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
  /** Files in the data's folders that were not read, named per folder (data plan `ignored`). */
  dataIgnored?: string[];
  /** Teachers with no model to score on the test set. */
  notEvaluated?: NotEvaluatedTeacher[];
}

export function renderDistillationReport(r: DistillationReport): string {
  const { config, softTargets } = r;
  const lines: string[] = [`# chrysalis run ${r.workflowId}`, ''];
  if (r.models.some((m) => m.training?.backendFallback)) lines.push(...WASM_FALLBACK_WARNING);
  for (const w of r.dataWarnings ?? []) lines.push(`> **Data split:** ${w}.`, '');
  for (const w of r.dataIgnored ?? []) lines.push(`> **Data files:** ${w}.`, '');
  for (const w of chanceWarnings(r)) lines.push(`> **Did not learn:** ${w}.`, '');
  const headline = compressionHeadline(r);
  if (headline) lines.push(`**${escapeCell(headline)}**`, '');
  lines.push(
    `Preset/config **${config.name}**, dataset **${config.data.dataset}**, seed ${config.seed}, ` +
      `wall time ${r.wallSeconds.toFixed(1)} s.`,
    `Soft targets \`${softTargets.key}\`: ` +
      `${softTargets.cacheHit ? 'cache hit (no teacher trained or run)' : 'computed this run'}; ` +
      `ensemble ${config.ensemble}; transfer set ${JSON.stringify(config.transfer)}.`,
    studentLine(r),
    ...stepNote(r),
    ...storageNote(softTargets.storage),
    ...importedTeachersNote(r),
    '',
    ...resultsTable(r),
    ...exportedSection(r),
    ...compressionSection(r),
    ...biasShiftSection(r.models),
    ...perClassSection(r),
  );
  return `${lines.join('\n')}\n`;
}

/** The students' architecture, with its parameter count once measured; a layers topology also names its file. */
function studentLine(r: DistillationReport): string {
  const spec = r.config.student.model;
  const parameters = r.models.find((m) => m.role !== 'teacher' && m.cost)?.cost?.parameters;
  const counted = parameters !== undefined ? `, ${parameters.toLocaleString('en-US')} parameters` : '';
  // A URL's query may carry a token: it stays out of the report.
  const from = spec.kind === 'layers' ? ` (from \`${spec.topology.split('?')[0]}\`)` : '';
  return `Student architecture: ${describeArchitecture(spec)}${counted}${from}.`;
}

/**
 * How each trained model took its steps: one TensorFlow call per step, or eager op by op and why (said, never
 * silent: the eager step is the slower one).
 */
function stepNote(r: DistillationReport): string[] {
  const groups = new Map<string, string[]>();
  for (const m of r.models) {
    const step = m.training?.step;
    if (!step) continue;
    const how =
      step.path === 'compiled' ? 'compiled (one TensorFlow call per step)' : `eager, op by op (${step.reason})`;
    groups.set(how, [...(groups.get(how) ?? []), m.name]);
  }
  if (groups.size === 0) return [];
  const parts = [...groups].map(([how, names]) => `${how}: ${names.join(', ')}`);
  return [`Training step ${parts.join('; ')}.`];
}

function storageNote(storage: SoftTargetStorage | undefined): string[] {
  if (!storage) return [];
  return [
    `Soft targets stored as ${storage.format}: ${storage.bytesPerExample.toFixed(1)} bytes per transfer example ` +
      `(${formatBytes(storage.bytes)} for ${storage.n} examples).`,
  ];
}

/**
 * Imported teachers, and what their soft targets are made of: a teacher that gives probabilities is
 * distilled from their log, so the temperature acts on log-probabilities (softmax(log p / T) ∝ p^(1/T)).
 * Each says where its test error is, or why it has none.
 */
function importedTeachersNote(r: DistillationReport): string[] {
  const { config } = r;
  if (!('import' in config.teachers)) return [];
  return config.teachers.import.map((t, i) => {
    const outputs = t.kind === 'npy' ? (t.outputs ?? 'logits') : t.outputs;
    const what =
      outputs === 'probabilities'
        ? 'gives probabilities: its soft targets are their log, so T acts on log-probabilities (p^(1/T), renormalised)'
        : `gives ${outputs}, used as logits`;
    // A URL's query may carry a token: it stays out of the report.
    return `Teacher ${i + 1}: imported ${t.kind} \`${t.path.split('?')[0]}\`; ${what}; ${scoredNote(r, i)}.`;
  });
}

function scoredNote(r: DistillationReport, index: number): string {
  const field = `teachers.import.${index}`;
  const scored = r.models.find((m) => m.imported?.field === field);
  if (scored) return `scored on the test set as **${escapeCell(scored.name)}**`;
  const not = r.notEvaluated?.find((x) => x.field === field);
  if (not) return `${not.reason}: not scored on the test set, nor in the ensemble row`;
  return 'not evaluated on the test set here';
}

/** Test (and validation) errors, training and inference time per model, and the ensemble as one model. */
function resultsTable(r: DistillationReport): string[] {
  const withValidation = r.models.some((m) => m.evaluation.validation);
  const validation = (e: Pick<EvaluationSummary, 'validation'>): string[] =>
    withValidation ? [e.validation ? `${e.validation.errors} / ${e.validation.n}` : ''] : [];
  const lines = tableHead([
    'model',
    'role',
    'T',
    'α',
    'test errors',
    'accuracy',
    ...(withValidation ? ['validation errors'] : []),
    'epochs',
    'train time',
    'inference time',
    'note',
  ]);
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
        ...validation(m.evaluation),
        t?.epochs ?? '',
        t ? `${t.seconds.toFixed(1)} s` : '',
        `${m.evaluation.inferenceSeconds.toFixed(2)} s`,
        t ? trainingNote(t) : m.imported ? `imported ${m.imported.kind}` : 'given',
      ]),
    );
  }
  const e = r.ensemble;
  if (e)
    lines.push(
      tableRow([
        ENSEMBLE_NAME,
        'ensemble',
        '',
        '',
        `${e.evaluation.errors} / ${e.evaluation.n}`,
        pct(e.evaluation.accuracy),
        ...(withValidation ? [''] : []),
        '',
        '',
        '',
        `${e.rule} mean of ${escapeCell(e.members.join(', '))}`,
      ]),
    );
  lines.push(
    '',
    'Inference time: forward passes over the test and validation splits during evaluation. ' +
      "In the training curves a student's loss is its distillation objective, " +
      'α·T²·KL(teacher ‖ student at T) + (1−α)·cross-entropy with the labels, ' +
      "not comparable with the baseline's and the teachers' plain cross-entropy: each model has its own axis.",
  );
  return lines;
}
/**
 * Models whose test accuracy is no better than guessing (under 1.5× chance): training diverged or never
 * started, which no error count says as plainly. The usual cause is a learning rate too high for the model
 * (a distilled student's soft term scales its gradients by α·T).
 */
export function chanceWarnings(r: Pick<DistillationReport, 'models'>): string[] {
  return r.models.flatMap((m) => {
    const classes = m.evaluation.perClassErrors.length;
    if (classes < 2 || m.evaluation.accuracy >= 1.5 / classes) return [];
    const pct = (m.evaluation.accuracy * 100).toFixed(1);
    if (m.imported)
      return [
        `${m.name} scores ${pct} % on ${classes} classes, about chance: check that it was trained on these classes ` +
          'in this order and takes its inputs as fed (docs/IMPORTED-TEACHERS.md, "What a teacher is fed")',
      ];
    return [
      `${m.name} scores ${pct} % on ${classes} classes, about chance: its training diverged or did not start; ` +
        `try a lower learning rate (${m.role === 'teacher' ? 'teachers' : 'student'}.train.optimizer.learningRate)`,
    ];
  });
}

/** Per-class test errors, columns named by the run's classes (ids when the report has no names). */
function perClassSection(r: DistillationReport): string[] {
  const C = r.models[0]?.evaluation.perClassErrors.length ?? r.ensemble?.evaluation.perClassErrors.length ?? 0;
  const name = (c: number): string => escapeCell(r.classNames?.[c] ?? String(c));
  const lines = ['', '## Per-class test errors', ''];
  lines.push(...tableHead(['model', ...Array.from({ length: C }, (_, c) => name(c))]));
  for (const m of r.models) lines.push(tableRow([m.name, ...m.evaluation.perClassErrors]));
  if (r.ensemble) lines.push(tableRow([ENSEMBLE_NAME, ...r.ensemble.evaluation.perClassErrors]));
  return lines;
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
