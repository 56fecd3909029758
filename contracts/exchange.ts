/**
 * The small, serialisable values that travel through Temporal between workflows and activities, and into the run
 * reports: data plans, models, training requests and results, soft targets, evaluations, measurements. Never
 * tensors or weights: those are claim-checked in the artifact store and referenced here by key and digest.
 * Types only (contracts/: it names the layers below it, never those that exchange these).
 */
import type { ArtifactRef } from '../storage/artifact-store';
import type { StepPlan } from '../ml/compiled-step';
import type { IdxFiles } from '../ml/datasets';
import type { EpochStats } from '../ml/train';
import type {
  CsvTableSpec,
  ImageFolders,
  ModelSpecInput,
  NormalizeInput,
  TeacherImport,
  TeacherOutputs,
  TrainSpec,
} from '../config/schemas';
import type { RunOptions } from '../config/resolve';
import type { ModelCost } from '../common/model-cost';
import type { Member } from '../common/soft-target-blocks';
import type { SoftTargetFormat } from '../common/soft-target-format';
import type { EnsembleRule, MachineInfo, ModelRole, TfjsBackend } from './vocabulary';

export interface DataPlanRef {
  dataset: string;
  /** The files of a `dataset: "idx"` run. */
  idx?: IdxFiles;
  /** The folders of a `dataset: "images"` run. */
  images?: ImageFolders;
  /** The table of a `dataset: "csv"` run. */
  csv?: CsvTableSpec;
  /** The declared normalisation, when there is one. */
  normalize?: NormalizeInput;
  datasetDigest: string;
  /** Digest of (dataset, validation hold-out, train limit, seed): what teachers' weights depend on. */
  trainDigest: string;
  /** trainDigest plus the transfer-set rule: names the plan object. */
  planDigest: string;
  plan: ArtifactRef;
  numClasses: number;
  classNames: string[];
  /** `transfer`: the transfer rows, examples × views (`views.count`, 1 without views). */
  counts: { train: number; validation: number; transfer: number; test: number };
  /**
   * Consistent augmented views (`transfer.views` > 1, ml/views.ts): transfer row r = i·K + v is view v of transfer
   * example i; `examples` is the plan's transfer examples. Absent without views.
   */
  views?: { count: number; jitter: number; seed: number; examples: number };
  /** What the split left that the user may not expect (ml/splits.ts planWarnings); absent when none. */
  warnings?: string[];
  /** Files in the data's folders that were not read (not PNG or JPEG), named per folder; absent when none. */
  ignored?: string[];
  /** The dataset as shards in the store (`data.shards`): workers read these, not the source. */
  shards?: ShardsRef;
}

/** What a data plan carries of its shards: the manifest, and the stream layout training uses. */
export interface ShardsRef {
  manifest: ArtifactRef;
  size: number;
  /** Shards a training activity holds (and shuffles together) at once. @default all of them */
  window?: number;
}

export interface ModelRef {
  /** Content digest of everything that determines the trained weights. */
  digest: string;
  manifest: ArtifactRef;
  weights: ArtifactRef;
  spec: ModelSpecInput;
  numClasses: number;
}

export interface TrainRequest {
  /** Human label, e.g. "teacher-1" or "student-T20-a0.9". */
  name: string;
  role: ModelRole;
  data: DataPlanRef;
  split: 'train' | 'transfer';
  spec: ModelSpecInput;
  train: TrainSpec;
  seed: number;
  /** Distillation: soft targets and how to use them. */
  distill?: {
    softTargets: SoftTargetsRef;
    temperature: number;
    alpha: number;
    ensemble: EnsembleRule;
    /** Online: these teachers run on each batch's own (jittered) view instead of the stored soft targets. */
    online?: { teachers: ModelRef[] };
  };
  /**
   * Train only the first epochs of this recipe (lr still scheduled over `train.epochs`), checkpoint and
   * publish those weights as a partial model; a later request with a larger value resumes from there.
   * Not part of the model's digest: every stop of one recipe is a prefix of the same run. @default train.epochs
   */
  stopAfterEpoch?: number;
}

export interface TrainResult {
  model: ModelRef;
  /** True when an identical model already existed and nothing was trained. */
  cached: boolean;
  /** Epoch training (re)started from: > 0 when resumed from a checkpoint. */
  resumedFromEpoch: number;
  epochsTrained: number;
  history: EpochStats[];
  seconds: number;
  backend: TfjsBackend;
  /** True when the worker runs on the WASM fallback instead of native TensorFlow. */
  backendFallback: boolean;
  /** The training step's path (absent when nothing was trained): compiled, or eager and why. */
  step?: StepPlan;
}

export interface SoftTargetsRef {
  key: string;
  /**
   * The tensor file: full logits, or top-k classes, values and rest statistics (ml/soft-targets.ts); with `parts`,
   * the index of the part files that hold them a block of rows each (activities/soft-target-parts.ts).
   */
  logits: ArtifactRef;
  /** Stored as part files of consecutive rows (sharded data) instead of one tensor file. */
  parts?: SoftTargetParts;
  manifest: ArtifactRef;
  /** Stored members: the teachers, or 1 for a geometric ensemble's top-k set (combined at storage). */
  members: number;
  n: number;
  numClasses: number;
  /** Seconds spent in teacher inference (0 when read from the cache). */
  inferenceSeconds?: number;
  /** How they are stored; absent: full float32 logits. */
  format?: SoftTargetFormat;
}

/** Soft targets stored in parts: `rows` rows each (the last may be short), `count` files, `bytes` in all. */
export interface SoftTargetParts {
  rows: number;
  count: number;
  bytes: number;
}

export interface BiasShiftResult {
  classes: number[];
  /** Shift chosen on the validation split, and the test errors with it. */
  validationShift: number;
  testErrorsWithValidationShift: number;
  /** The shift that would be best on the test set itself (the paper's choice), for comparison only. */
  testOptimalShift: number;
  testOptimalErrors: number;
}

export interface EvaluationSummary {
  name: string;
  modelDigest: string;
  errors: number;
  n: number;
  accuracy: number;
  perClassErrors: number[];
  biasShift?: BiasShiftResult;
  /** Errors on the validation split (absent when it is empty): what choices are made on, never the test set. */
  validation?: { errors: number; n: number };
  /** Full metrics (confusion matrix, …) in the store. */
  details: ArtifactRef;
  /** Seconds spent in forward passes (test and validation logits). */
  inferenceSeconds: number;
}

export interface MeasureRequest {
  models: { name: string; model: ModelRef }[];
  /** The run's class names: they are part of the exported model.json, so of its size. */
  classNames: string[];
  /** Single-example calls timed after warm-up. @default 200 */
  batch1Calls?: number;
}

export interface MeasureResult {
  machine: MachineInfo;
  costs: { name: string; cost: ModelCost }[];
}

/** Where a run report was stored: JSON, Markdown, HTML, and its charts. */
export interface StoredReport {
  json: string;
  markdown: string;
  html: string;
  /** PNG keys, one per chart (an SVG with the same name sits beside each). */
  charts: string[];
}

/** A validated input: the config and the run options, both parsed strictly. */
export interface ValidatedInput<T> {
  config: T;
  options: RunOptions;
}

/** The kinds of imported teacher that have a model to score: an `.npy` holds logits of the transfer set only. */
export type ScoredImportKind = Exclude<TeacherImport['kind'], 'npy'>;

/** What travels through Temporal for one imported teacher. */
export interface ImportedTeacherRef {
  /** Names how this teacher's logits are made: content, kind, signature, output, output kind. The cache key. */
  digest: string;
  /** sha256 over the files' relative paths and bytes. */
  sha256: string;
  kind: TeacherImport['kind'];
  outputs: TeacherOutputs;
  /** SavedModel only: the signature and output used. */
  signature?: string;
  outputName?: string;
  /** Files under `imports/<sha256>/files/`, relative. */
  files: string[];
  /** The config field, e.g. "teachers.import.0", for messages. */
  field: string;
  /** The import's path as the config gives it (local path, `minio:` key or URL), for messages. */
  source?: string;
}

/** What a soft-target computation is asked for: the cache key, data, the teachers in order, the format. */
export interface SoftTargetsRequest {
  key: string;
  data: DataPlanRef;
  teachers: ModelRef[];
  /** Teachers from outside, after the given ones. @default [] */
  imported?: ImportedTeacherRef[];
  /** @default full float32 logits */
  format?: SoftTargetFormat;
}

/** One ensemble member: a model trained or given here, or a teacher imported from outside. */
export type TeacherMember = Member<ModelRef, ImportedTeacherRef>;

/**
 * A model that can be scored: one trained here, or a teacher imported from outside (a SavedModel or a tfjs model,
 * run on the same inputs as for its soft targets). An imported `.npy` holds logits of the transfer set only: it has
 * no model to score.
 */
export type ScoredModel = { model: ModelRef } | { imported: ImportedTeacherRef };

export type EvaluateRequest = ScoredModel & {
  name: string;
  data: DataPlanRef;
  /** Classes whose logit bias is searched (class-omission variants). */
  biasClasses?: number[];
};

/** The teacher ensemble to score: trained or given models, then imported teachers, combined by `rule`. */
export interface EnsembleRequest {
  name: string;
  models: ModelRef[];
  /** @default [] */
  imported?: ImportedTeacherRef[];
  rule: EnsembleRule;
  data: DataPlanRef;
}
