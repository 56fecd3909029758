/**
 * What the compute activities are built with (workers/compute-worker.ts). A type of its own file, so the activity
 * files that take it (training.ts, evaluation.ts, soft-target-blocks.ts, specialists-*.ts) need not import compute.ts,
 * which imports them.
 */
import type { ModelLimits } from '../config/model-size';
import type { TrainingDeps } from './durable-training';
import type { ImportDeps } from '../artifacts/import-files';

export interface ComputeDeps extends TrainingDeps, Pick<ImportDeps, 'downloadTimeoutSeconds'> {
  /** Local data files must lie under these (CHRYSALIS_DATA_ROOTS). @default none: every local path is refused */
  dataRoots?: readonly string[];
  /** Model-size limits, checked once the data's shape is known. @default DEFAULT_MODEL_LIMITS */
  limits?: ModelLimits;
}
