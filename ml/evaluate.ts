/** Inference and metrics: logits in batches, error counts, confusion matrices, bias-shift search. */
import type { InputShape } from '../common/input-shape';
import * as tf from '@tensorflow/tfjs';
import { alignedOutputs } from './batches';
import { netInference } from './compiled-inference';
import type { Net } from './models';
import type { Pixels } from './datasets';
import { tidyValues } from './tidy-values';

/**
 * Logits (n × C, row-major) for the images at `indices`, at T = 1, without dropout; for a loaded export, whose
 * forward pass ends in its softmax, the probabilities.
 */
export async function predictLogits(
  net: Net | Pick<Net, 'forward' | 'inputSize' | 'numClasses'>,
  images: Pixels,
  side: InputShape,
  indices: Int32Array,
  /** Where `indices[0]` lies in the whole set the rows belong to: batches break at fixed rows (alignedBatches). */
  firstRow = 0,
  batchSize = 1000,
): Promise<Float32Array> {
  // A whole Net runs as one TensorFlow call per batch where it can (ml/compiled-inference.ts); a loaded export's
  // forward pass runs as it is.
  const inference = 'params' in net ? netInference(net) : undefined;
  const forward = inference ? (x: tf.Tensor2D) => inference.forward(x) : (x: tf.Tensor2D) => net.forward(x);
  try {
    return await alignedOutputs({ images, side, indices, firstRow }, batchSize, net.numClasses, (batch) =>
      tidyValues(() => forward(tf.tensor2d(batch, [batchSize, net.inputSize]))),
    );
  } finally {
    inference?.dispose();
  }
}

/** Class probabilities (softmax of {@link predictLogits}), n × C row-major. */
export async function predictProbabilities(
  net: Net,
  images: Pixels,
  side: InputShape,
  indices: Int32Array,
): Promise<Float32Array> {
  const logits = await predictLogits(net, images, side, indices);
  const n = indices.length;
  if (n === 0) return new Float32Array(0);
  return tidyValues(() => tf.softmax(tf.tensor2d(logits, [n, net.numClasses])));
}

export interface Metrics {
  n: number;
  errors: number;
  accuracy: number;
  /** errors[c] = misclassified examples whose true class is c. */
  perClassErrors: number[];
  perClassCount: number[];
  /** confusion[true][predicted]. */
  confusion: number[][];
}

function argmaxRow(logits: Float32Array, row: number, C: number, bias?: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let c = 0; c < C; c++) {
    const v = logits[row * C + c]! + (bias ? bias[c]! : 0);
    if (v > bestV) {
      bestV = v;
      best = c;
    }
  }
  return best;
}

/** Metrics of logits against labels; `bias` is added to the logits first (for bias-shift evaluation). */
export function metrics(logits: Float32Array, labels: ArrayLike<number>, C: number, bias?: ArrayLike<number>): Metrics {
  const n = labels.length;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const perClassErrors = new Array<number>(C).fill(0);
  const perClassCount = new Array<number>(C).fill(0);
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    const p = argmaxRow(logits, i, C, bias);
    confusion[y]![p]! += 1;
    perClassCount[y]! += 1;
    if (p !== y) {
      errors += 1;
      perClassErrors[y]! += 1;
    }
  }
  return { n, errors, accuracy: n === 0 ? 0 : 1 - errors / n, perClassErrors, perClassCount, confusion };
}

export interface BiasShift {
  classes: number[];
  /** The shift added to each of `classes`' logits. */
  shift: number;
  errors: number;
}

/**
 * Searches one shift added to the logits of `classes` (paper §3: +3.5 for an omitted 3, −7.6 for
 * 7s and 8s) minimising errors on the given logits/labels. Grid from −range to +range.
 */
export function searchBiasShift(
  logits: Float32Array,
  labels: ArrayLike<number>,
  C: number,
  classes: number[],
  range = 12,
  step = 0.1,
): BiasShift {
  let best: BiasShift = { classes, shift: 0, errors: metrics(logits, labels, C).errors };
  const bias = new Float32Array(C);
  for (let s = -range; s <= range + 1e-9; s += step) {
    const shift = Math.round(s * 100) / 100;
    for (const c of classes) bias[c] = shift;
    const errors = metrics(logits, labels, C, bias).errors;
    if (errors < best.errors || (errors === best.errors && Math.abs(shift) < Math.abs(best.shift)))
      best = { classes, shift, errors };
  }
  return best;
}

export function biasVector(C: number, shift?: BiasShift): Float32Array {
  const b = new Float32Array(C);
  if (shift) for (const c of shift.classes) b[c] = shift.shift;
  return b;
}
