/**
 * A model's size from its spec alone, before a single tensor is allocated: parameter count and the
 * activation memory of one training batch. A spec far past what the machine holds (`hidden:
 * [2000000000]`) is refused with these estimates instead of failing deep inside tfjs as a RangeError.
 * ml/models.ts builds the same layers; a unit test holds the two parameter counts equal. A layers topology
 * of your own is sized from the built model instead (ml/layers-net.ts), once its file is read.
 */
import type { BuiltInSpecInput } from './schemas';
import { channelsOf, inputSizeOf } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';

export interface ModelSize {
  parameters: number;
  /** float32 bytes of the forward activations of one batch, kept for the backward pass (×2 for their gradients). */
  activationBytes: number;
}

export interface ModelShape {
  /** [rows, cols] or [rows, cols, channels] of the input images. */
  inputShape: Readonly<InputShape>;
  numClasses: number;
  batchSize: number;
}

/** Parameters and per-batch activation memory of the net {@link BuiltInSpecInput} describes. */
export function modelSize(spec: BuiltInSpecInput, shape: ModelShape): ModelSize {
  const [rows, cols] = shape.inputShape;
  if (spec.kind === 'mlp') {
    const sizes = [inputSizeOf(shape.inputShape), ...spec.hidden, shape.numClasses];
    let parameters = 0;
    for (let i = 0; i + 1 < sizes.length; i++) parameters += sizes[i]! * sizes[i + 1]! + sizes[i + 1]!;
    const units = sizes.reduce((a, b) => a + b, 0);
    return { parameters, activationBytes: 2 * 4 * shape.batchSize * units };
  }
  let channels = channelsOf(shape.inputShape);
  let h = rows;
  let w = cols;
  let parameters = 0;
  let units = inputSizeOf(shape.inputShape);
  for (const f of spec.filters) {
    parameters += 9 * channels * f + f;
    units += h * w * f; // the conv output, before pooling halves it
    channels = f;
    h = Math.floor(h / 2);
    w = Math.floor(w / 2);
  }
  const flat = h * w * channels;
  parameters += flat * spec.dense + spec.dense + spec.dense * shape.numClasses + shape.numClasses;
  units += spec.dense + shape.numClasses;
  return { parameters, activationBytes: 2 * 4 * shape.batchSize * units };
}

/** Limits a model must fit in; the environment sets them per worker (config/env.ts). */
export interface ModelLimits {
  /** @default 200,000,000 (0.8 GB of float32 weights, as much again per optimizer slot) */
  maxParameters: number;
  /** @default 4 GiB */
  maxActivationBytes: number;
}

export const DEFAULT_MODEL_LIMITS: ModelLimits = { maxParameters: 200_000_000, maxActivationBytes: 4 * 2 ** 30 };

const fmt = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(1)} billion` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n.toLocaleString('en-US');
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** Why the model does not fit in `limits`, with the estimates, or undefined when it fits. */
export function modelSizeProblem(spec: BuiltInSpecInput, shape: ModelShape, limits: ModelLimits): string | undefined {
  return sizeProblem(modelSize(spec, shape), shape, limits);
}

/** Why a model of this size does not fit in `limits`, or undefined when it fits. */
export function sizeProblem(size: ModelSize, shape: ModelShape, limits: ModelLimits): string | undefined {
  const where = `${shape.inputShape.join('×')} inputs, ${shape.numClasses} classes`;
  if (size.parameters > limits.maxParameters)
    return (
      `the model has ${fmt(size.parameters)} parameters (${where}), over the limit of ${fmt(limits.maxParameters)}` +
      ' (CHRYSALIS_MAX_PARAMETERS)'
    );
  if (size.activationBytes > limits.maxActivationBytes)
    return (
      `one batch of ${shape.batchSize} needs about ${gib(size.activationBytes)} of activations (${where}), over the` +
      ` limit of ${gib(limits.maxActivationBytes)} (CHRYSALIS_MAX_ACTIVATION_BYTES); use a smaller batchSize or model`
    );
  return undefined;
}
