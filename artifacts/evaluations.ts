/**
 * Scoring models on the test set and the validation split: their logits (a model trained here or an imported
 * teacher, timed), and the metrics stored in full under the evaluation key and summarised. The activities are in
 * activities/evaluation.ts.
 */
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import { keys } from '../common/store-keys';
import type { DataPlanRef, EvaluationSummary, ModelRef, ScoredModel } from '../contracts/exchange';
import type { Dataset } from '../ml/datasets';
import { biasVector, metrics, predictLogits, searchBiasShift } from '../ml/evaluate';
import { invalidInput } from '../data/input-failures';
import { datasetWithRows } from '../data/sources';
import type { DataAccess, datasetFor } from '../data/sources';
import { withImportedTeacher } from './imported-teachers';
import { loadModelNet, loadPlan } from './models';

/** Test and validation logits of one model (n × C, row-major), and the seconds their forward passes took. */
export interface Logits {
  test: Float32Array;
  validation: Float32Array;
  seconds: number;
}

export async function modelLogits(
  store: ArtifactStore,
  model: ModelRef,
  ds: Awaited<ReturnType<typeof datasetFor>>,
  validation: Int32Array,
): Promise<Logits> {
  const net = await loadModelNet(store, model);
  try {
    return await timedLogits((images, indices) => predictLogits(net, images, ds.shape, indices), ds, validation);
  } finally {
    net.dispose();
  }
}

/** Test-set and validation logits through `forward`, timed (loading excluded). */
export async function timedLogits(
  forward: (images: Dataset['train']['images'], indices: Int32Array) => Promise<Float32Array>,
  ds: Dataset,
  validation: Int32Array,
): Promise<Logits> {
  const t0 = performance.now();
  const test = await forward(
    ds.test.images,
    Int32Array.from({ length: ds.test.n }, (_, i) => i),
  );
  const val = await forward(ds.train.images, validation);
  return { test, validation: val, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Logits of a model trained here or of an imported teacher (fed exactly as for its soft targets). An `.npy`
 * teacher is logits of the transfer set only: nothing to run on the test set.
 */
export async function scoredLogits(store: ArtifactStore, m: ScoredModel, ds: Dataset, validation: Int32Array) {
  if ('model' in m) return modelLogits(store, m.model, ds, validation);
  const ref = m.imported;
  if (ref.kind === 'npy')
    throw invalidInput(
      `${ref.field}: an .npy teacher is logits of the transfer set, with no model to score on the test set`,
    );
  return withImportedTeacher(store, ref, ds, (forward) => timedLogits(forward, ds, validation));
}

export const scoredDigest = (m: ScoredModel): string => ('model' in m ? m.model.digest : m.imported.digest);

/** Metrics of given logits on the test set (and validation split), stored in full, summarised. */
export async function summarize(
  store: ArtifactStore,
  req: { name: string; digest: string; data: DataPlanRef; biasClasses?: number[] },
  ds: Awaited<ReturnType<typeof datasetFor>>,
  validation: Int32Array,
  logits: Logits,
): Promise<EvaluationSummary> {
  const C = ds.numClasses;
  const m = metrics(logits.test, ds.test.labels, C);
  const valLabels = Uint8Array.from(validation, (i) => ds.train.labels[i]!);
  let biasShift: EvaluationSummary['biasShift'];
  if (req.biasClasses && req.biasClasses.length > 0) {
    const onVal = searchBiasShift(logits.validation, valLabels, C, req.biasClasses);
    const onTest = searchBiasShift(logits.test, ds.test.labels, C, req.biasClasses);
    biasShift = {
      classes: req.biasClasses,
      validationShift: onVal.shift,
      testErrorsWithValidationShift: metrics(logits.test, ds.test.labels, C, biasVector(C, onVal)).errors,
      testOptimalShift: onTest.shift,
      testOptimalErrors: onTest.errors,
    };
  }
  const val = validation.length > 0 ? metrics(logits.validation, valLabels, C) : undefined;
  const details = await putJson(store, keys.evaluation(req.digest, req.data.planDigest), {
    name: req.name,
    model: req.digest,
    ...m,
    classNames: ds.classNames,
    biasShift: biasShift ?? null,
    validation: val ? { errors: val.errors, n: val.n, perClassErrors: val.perClassErrors } : null,
  });
  return {
    name: req.name,
    modelDigest: req.digest,
    errors: m.errors,
    n: m.n,
    accuracy: m.accuracy,
    perClassErrors: m.perClassErrors,
    ...(biasShift ? { biasShift } : {}),
    ...(val ? { validation: { errors: val.errors, n: val.n } } : {}),
    details,
    inferenceSeconds: logits.seconds,
  };
}

/** The test split and the validation examples (sharded: only those, read a shard at a time). */
export async function scoringData(
  deps: DataAccess & { store: ArtifactStore },
  data: DataPlanRef,
): Promise<{ ds: Dataset; validation: Int32Array }> {
  const { validation } = await loadPlan(deps.store, data.plan);
  const { ds, rows } = await datasetWithRows(data, deps, validation);
  return { ds, validation: rows };
}

/** Log-probabilities: the combined ensemble's "logits" (argmax and softmax are unchanged). */
export function logOf(probs: Float32Array): Float32Array {
  return probs.map((p) => Math.log(Math.max(p, 1e-30)));
}
