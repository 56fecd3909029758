/**
 * Networks as plain tf.Variables with an explicit forward pass. We own the parameters rather than
 * using tf.layers because the paper's training needs things layers hide or get wrong for us:
 * dropout masks that differ per batch yet replay from a seed, max-norm applied after every update,
 * and exact save/restore of weights and optimizer state for checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import type { RawTensor } from '../common/raw-tensor';
import type { BuiltInSpecInput, CnnSpecInput, LayersSpecInput, MlpSpecInput, ModelSpecInput } from '../config/schemas';
import { channelsOf, inputSizeOf } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';
import { statelessUniform } from './native-ops';
import { Rng } from './rng';

/** The architectures, as the config schemas define them (config/schemas.ts). */
export type MlpSpec = MlpSpecInput;
export type CnnSpec = CnnSpecInput;
export type LayersSpec = LayersSpecInput;
/** Any architecture: built here from its spec ({@link buildNet}) or a layers topology (ml/layers-net.ts). */
export type ModelSpec = ModelSpecInput;
export type BuiltInSpec = BuiltInSpecInput;

export interface Net {
  spec: ModelSpec;
  /** The input's [rows, cols(, channels)], flattened HWC into rows of `inputSize`. */
  inputShape: InputShape;
  inputSize: number;
  numClasses: number;
  /** Parameter names are stable across processes (w0, b0, …); variables get a unique prefix. */
  params: Map<string, tf.Variable>;
  /** Logits for a batch of flattened inputs in [0, 1]. */
  forward(x: tf.Tensor2D, opts?: { training?: boolean; rng?: Rng }): tf.Tensor2D;
  /** Renormalises weights to the spec's max-norm (no-op without one). */
  applyConstraints(): void;
  /**
   * A layers topology's net only: the model in its export form (flat input, softmax output) whose weights are
   * `params`; the export saves it as it is (ml/export.ts).
   */
  exportModel?: tf.Sequential;
  dispose(): void;
}

let netCounter = 0;

function glorot(shape: number[], fanIn: number, fanOut: number, seed: number): tf.Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return tf.randomUniform(shape, -limit, limit, 'float32', seed);
}

export interface BuildOptions {
  /** [rows, cols] or [rows, cols, channels]: inputs are flattened HWC rows. */
  inputShape: InputShape;
  numClasses: number;
  seed: number;
}

/** An MLP's forward pass with what its backward pass needs (ml/mlp-step.ts), layer by layer. */
export interface MlpPass {
  logits: tf.Tensor2D;
  /** Each layer's input, after dropout: the left factor of its weight gradient. */
  inputs: tf.Tensor2D[];
  /** Each hidden layer's ReLU output, before dropout: where its gradient passes. */
  activations: tf.Tensor2D[];
  /** Each layer's input dropout multiplier (0 or 1/keep per element), undefined where none was drawn. */
  multipliers: (tf.Tensor2D | undefined)[];
}

/**
 * The MLP's pass over `x` with parameters w0, b0, …; training draws a dropout seed from `rng` for the input and
 * after each hidden ReLU whose rate is above 0, in that order, so masks replay from the seed.
 */
export function mlpPass(
  spec: MlpSpec,
  params: Map<string, tf.Variable>,
  x: tf.Tensor2D,
  training: boolean,
  rng: Rng,
): MlpPass {
  const layers = spec.hidden.length + 1;
  const pass: MlpPass = { logits: x, inputs: [], activations: [], multipliers: [] };
  const rate = (i: number) => (training ? ((i === 0 ? spec.inputDropout : spec.hiddenDropout) ?? 0) : 0);
  let h = x;
  for (let i = 0; i < layers; i++) {
    // The multiplier is kept apart so the backward pass can reuse it.
    const multiplier = rate(i) > 0 ? dropoutMultiplier(h.shape, rate(i), rng.seed()) : undefined;
    if (multiplier) h = tf.mul(h, multiplier);
    pass.inputs.push(h);
    pass.multipliers.push(multiplier);
    h = tf.add<tf.Tensor2D>(tf.matMul(h, params.get(`w${i}`)!), params.get(`b${i}`)!);
    if (i + 1 < layers) {
      h = tf.relu(h);
      pass.activations.push(h);
    }
  }
  pass.logits = h;
  return pass;
}

/**
 * 1/keep with probability keep, else 0, per element, replayed from `seed`. On the native backend the draw is
 * TensorFlow's StatelessRandomUniform, below keep: exactly the mask a compiled step's graph draws from the same seed
 * (ml/graph/mlp-graph.ts), so the eager step stays its reference. Elsewhere it is drawn in JS and uploaded once:
 * element i is kept when the top 31 bits of the i-th mulberry32 output (the Rng's generator, seeded with `seed`) are
 * below round(keep·2³¹); tf.dropout's way (seedrandom in JS, then add, floor and div as three ops) took 5-7 ms of a
 * dropout teacher's step on a 2-vCPU EPYC, this loop about 1 (inlined and branch-free: a kept-or-not branch is
 * mispredicted half the time, and Rng.next() is 3× slower here).
 */
export function dropoutMultiplier(shape: [number, number], rate: number, seed: number): tf.Tensor2D {
  const keep = 1 - rate;
  const uniform = statelessUniform(shape, seed);
  if (uniform) {
    const mask = tf.tidy(() => tf.mul<tf.Tensor2D>(tf.cast(tf.less(uniform, keep), 'float32'), 1 / keep));
    uniform.dispose();
    return mask;
  }
  const threshold = Math.round(keep * 2 ** 31);
  const scale = 1 / keep;
  const out = new Float32Array(shape[0] * shape[1]);
  let state = seed | 0;
  for (let i = 0; i < out.length; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    // (top 31 bits − threshold) is negative exactly when kept; >>> 31 turns its sign into 1 or 0.
    out[i] = scale * ((((t ^ (t >>> 14)) >>> 1) - threshold) >>> 31);
  }
  return tf.tensor2d(out, shape);
}

/** Creates a freshly initialised network of a built-in architecture. */
export function buildNet(spec: BuiltInSpec, opts: BuildOptions): Net {
  const [rows, cols] = opts.inputShape;
  const inChannels = channelsOf(opts.inputShape);
  const inputSize = inputSizeOf(opts.inputShape);
  const prefix = `net${++netCounter}`;
  const rng = new Rng(opts.seed);
  const params = new Map<string, tf.Variable>();
  const add = (name: string, init: tf.Tensor): tf.Variable => {
    const v = tf.variable(init, true, `${prefix}/${name}`);
    init.dispose();
    params.set(name, v);
    return v;
  };

  if (spec.kind === 'mlp') {
    const sizes = [inputSize, ...spec.hidden, opts.numClasses];
    for (let i = 0; i + 1 < sizes.length; i++) {
      add(`w${i}`, glorot([sizes[i]!, sizes[i + 1]!], sizes[i]!, sizes[i + 1]!, rng.seed()));
      add(`b${i}`, tf.zeros([sizes[i + 1]!]));
    }
    const layers = sizes.length - 1;
    return assemble(spec, opts, params, {
      forward(x, o = {}) {
        return tf.tidy(() => mlpPass(spec, params, x, o.training ?? false, o.rng ?? rng).logits);
      },
      applyConstraints() {
        if (spec.maxNorm === undefined) return;
        const c = spec.maxNorm;
        tf.tidy(() => {
          // Hidden layers only: constrain each hidden unit's incoming weight vector (a column of w).
          for (let i = 0; i + 1 < layers; i++) {
            const w = params.get(`w${i}`)!;
            const norms = tf.sqrt(tf.sum(tf.square(w), 0, true));
            // Where no column is over the norm every factor is exactly 1: skip rewriting w (two ops over the
            // whole matrix each step, most of the constraint's cost) for one scalar read.
            if (tf.max(norms).dataSync()[0]! <= c) continue;
            w.assign(tf.mul(w, tf.minimum(1, tf.div(c, tf.maximum(norms, 1e-12)))));
          }
        });
      },
    });
  }

  let channels = inChannels;
  let h = rows;
  let w = cols;
  spec.filters.forEach((f, i) => {
    add(`conv${i}`, glorot([3, 3, channels, f], 9 * channels, 9 * f, rng.seed()));
    add(`convb${i}`, tf.zeros([f]));
    channels = f;
    h = Math.floor(h / 2);
    w = Math.floor(w / 2);
  });
  const flat = h * w * channels;
  add('dense', glorot([flat, spec.dense], flat, spec.dense, rng.seed()));
  add('denseb', tf.zeros([spec.dense]));
  add('out', glorot([spec.dense, opts.numClasses], spec.dense, opts.numClasses, rng.seed()));
  add('outb', tf.zeros([opts.numClasses]));
  return assemble(spec, opts, params, {
    forward(x, o = {}) {
      return tf.tidy(() => {
        let a: tf.Tensor4D = tf.reshape(x, [-1, rows, cols, inChannels]);
        spec.filters.forEach((_, i) => {
          const conv = tf.conv2d(a, params.get(`conv${i}`) as tf.Tensor4D, 1, 'same');
          a = tf.maxPool(tf.relu(tf.add<tf.Tensor4D>(conv, params.get(`convb${i}`)!)), 2, 2, 'valid');
        });
        let d: tf.Tensor2D = tf.relu(
          tf.add<tf.Tensor2D>(tf.matMul(tf.reshape(a, [-1, flat]), params.get('dense')!), params.get('denseb')!),
        );
        if ((o.training ?? false) && spec.dropout)
          d = tf.mul(d, dropoutMultiplier(d.shape, spec.dropout, (o.rng ?? rng).seed()));
        return tf.add<tf.Tensor2D>(tf.matMul(d, params.get('out')!), params.get('outb')!);
      });
    },
    applyConstraints() {},
  });
}

/** A {@link Net} from its parameters and pass; disposing it disposes every parameter. */
function assemble(
  spec: BuiltInSpec,
  opts: BuildOptions,
  params: Map<string, tf.Variable>,
  pass: Pick<Net, 'forward' | 'applyConstraints'>,
): Net {
  return {
    spec,
    inputShape: opts.inputShape,
    inputSize: inputSizeOf(opts.inputShape),
    numClasses: opts.numClasses,
    params,
    forward: pass.forward,
    applyConstraints: pass.applyConstraints,
    dispose() {
      params.forEach((v) => v.dispose());
    },
  };
}

/** Parameters as named raw tensors, for the tensor codec. */
export function exportWeights(net: Net): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const [name, v] of net.params) out[name] = { dtype: 'float32', shape: v.shape, data: v.dataSync() };
  return out;
}

/** Loads parameters saved by {@link exportWeights}; shapes must match the net's spec. */
export function importWeights(net: Net, weights: Record<string, RawTensor>): void {
  for (const [name, v] of net.params) {
    const t = weights[name];
    if (!t) throw new Error(`weights lack parameter ${name}`);
    if (t.shape.join(',') !== v.shape.join(','))
      throw new Error(`parameter ${name}: saved shape [${t.shape.join(',')}] != model shape [${v.shape.join(',')}]`);
    const value = tf.tensor(t.data, t.shape, 'float32');
    v.assign(value);
    value.dispose();
  }
}

/** Number of trainable scalars. */
export function paramCount(net: Net): number {
  let n = 0;
  net.params.forEach((v) => (n += v.size));
  return n;
}
