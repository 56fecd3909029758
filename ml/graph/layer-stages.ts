/**
 * A tfjs layer as graph stages, each one op with its backward pass written with TensorFlow's own gradient kernels
 * (the kernels tfjs's tape calls on the native backend): a Dense layer is MatMul, BiasAdd and its activation; a
 * Conv2D is Conv2D, BiasAdd and its activation. Shared by the inference graph of a loaded model
 * (ml/graph/layers-graph.ts) and the training graph of a layers net (ml/graph/layers-train-graph.ts), so the two
 * passes are one description.
 */
import type * as tf from '@tensorflow/tfjs';
import type { GraphBuilder, Out } from './builder';
import type { Attr } from './proto';

/** What a stage's backward pass sees: its forward input and output, their gradient, its weights and mask. */
export interface StageIo {
  input: Out;
  output: Out;
  dy: Out;
  w: Out[];
  mask: Out | undefined;
  /** Whether anything before the stage needs `dx` (the first layers' input gradient is never used). */
  needDx: boolean;
}

/** A stage's gradients: its input's (when asked for) and each parameter's, with what must run before its update. */
export interface StageGrads {
  dx: Out | undefined;
  params: { grad: Out; after: Out[] }[];
}

/** One op of a layer's pass and its gradient. */
export interface Stage {
  /** Shapes of the parameters the stage reads, in the layer's trainableWeights order. */
  params: number[][];
  /** Set on a Dropout layer's stage: its rate (the stage is the identity without a mask). */
  dropout?: number;
  forward(b: GraphBuilder, a: Out, w: Out[], mask: Out | undefined): Out;
  backward(b: GraphBuilder, io: StageIo): StageGrads;
}

/** A layer with no stages here: its name, class and, when the class is one of ours, what of its config is not. */
export interface Unsupported {
  layer: string;
  kind: string;
  detail?: string;
}

type Config = Record<string, unknown>;

const F = { T: { type: 'float' } } as const;

const shapeOf = (b: GraphBuilder, x: Out): Out => b.op('Shape', [x], { ...F, out_type: { type: 'int32' } });

const padding = (config: Config): Attr => ({ s: config['padding'] === 'same' ? 'SAME' : 'VALID' });

/** An [h, w] pair from a layer config's number or pair. */
const pair = (v: unknown): [number, number] =>
  Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)];

const window = (hw: [number, number]): Attr => ({ listInt: [1, hw[0], hw[1], 1] });

/** Each activation's gradient (TF's kernels, in their input orders); `linear` has no stage. */
const ACTIVATIONS: Record<string, ((b: GraphBuilder, io: StageIo) => Out) | null> = {
  linear: null,
  relu: (b, io) => b.f('ReluGrad', [io.dy, io.input]),
  relu6: (b, io) => b.f('Relu6Grad', [io.dy, io.input]),
  sigmoid: (b, io) => b.f('SigmoidGrad', [io.output, io.dy]),
  tanh: (b, io) => b.f('TanhGrad', [io.output, io.dy]),
  elu: (b, io) => b.f('EluGrad', [io.dy, io.output]),
  // TF has no SoftmaxGrad kernel: y·(dy − Σ dy·y), as tfjs's softmax gradient.
  softmax: (b, { dy, output }) => {
    const dyY = b.f('Mul', [dy, output]);
    return b.f('Sub', [dyY, b.f('Mul', [b.reduce('Sum', dyY, [-1], true), output])]);
  },
};
/** Each activation's forward op. */
const OPS: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  elu: 'Elu',
  softmax: 'Softmax',
};

/** The activation's stage (none for linear), or why there is none. */
function activation(fn: unknown): Stage[] | string {
  if (typeof fn !== 'string' || !Object.hasOwn(ACTIVATIONS, fn)) return `activation ${JSON.stringify(fn)}`;
  const grad = ACTIVATIONS[fn];
  if (!grad) return [];
  return [
    { params: [], forward: (b, a) => b.f(OPS[fn]!, [a]), backward: (b, io) => ({ dx: grad(b, io), params: [] }) },
  ];
}

function bias(config: Config, units: number): Stage[] {
  if (config['useBias'] === false) return [];
  return [
    {
      params: [[units]],
      forward: (b, a, [w]) => b.f('BiasAdd', [a, w!]),
      backward: (b, { dy }) => ({ dx: dy, params: [{ grad: b.f('BiasAddGrad', [dy]), after: [] }] }),
    },
  ];
}

function matMul(kernel: number[]): Stage {
  return {
    params: [kernel],
    forward: (b, a, [w]) => b.matMul(a, w!),
    backward(b, { input, dy, w, needDx }) {
      const dx = needDx ? b.matMul(dy, w[0]!, false, true) : undefined;
      return { dx, params: [{ grad: b.matMul(input, dy, true, false), after: dx ? [dx] : [] }] };
    },
  };
}

function conv2d(kernel: number[], config: Config): Stage {
  const attrs = { strides: window(pair(config['strides'] ?? 1)), padding: padding(config) };
  return {
    params: [kernel],
    forward: (b, a, [w]) => b.f('Conv2D', [a, w!], attrs),
    backward(b, { input, dy, w, needDx }) {
      const dx = needDx ? b.f('Conv2DBackpropInput', [shapeOf(b, input), w[0]!, dy], attrs) : undefined;
      const grad = b.f('Conv2DBackpropFilter', [input, b.ints(kernel), dy], attrs);
      return { dx, params: [{ grad, after: dx ? [dx] : [] }] };
    },
  };
}

function pool(max: boolean, config: Config): Stage {
  const size = pair(config['poolSize'] ?? 2);
  const attrs = { ksize: window(size), strides: window(pair(config['strides'] ?? size)), padding: padding(config) };
  return {
    params: [],
    forward: (b, a) => b.f(max ? 'MaxPool' : 'AvgPool', [a], attrs),
    backward: (b, { input, output, dy }) => ({
      dx: max ? b.f('MaxPoolGrad', [input, output, dy], attrs) : b.f('AvgPoolGrad', [shapeOf(b, input), dy], attrs),
      params: [],
    }),
  };
}

function reshape(out: number[]): Stage {
  const to = (b: GraphBuilder, x: Out, shape: Out) => b.op('Reshape', [x, shape], { ...F, Tshape: { type: 'int32' } });
  return {
    params: [],
    forward: (b, a) => to(b, a, b.ints([-1, ...out])),
    backward: (b, { input, dy }) => ({ dx: to(b, dy, shapeOf(b, input)), params: [] }),
  };
}

function dropout(rate: number): Stage {
  return {
    params: [],
    dropout: rate,
    forward: (b, a, _w, mask) => (mask ? b.f('Mul', [a, mask]) : a),
    backward: (b, { dy, mask }) => ({ dx: mask ? b.f('Mul', [dy, mask]) : dy, params: [] }),
  };
}

/** The layer's stages in pass order, or what of it has none. */
export function layerStages(layer: tf.layers.Layer): Stage[] | Unsupported {
  const kind = layer.getClassName();
  const config = layer.getConfig() as Config;
  const no = (detail?: string): Unsupported => ({ layer: layer.name, kind, ...(detail ? { detail } : {}) });
  if (kind !== 'Flatten' && config['dataFormat'] !== undefined && config['dataFormat'] !== 'channelsLast')
    return no(`dataFormat ${JSON.stringify(config['dataFormat'])}`);
  const shapes = layer.weights.map((w) => w.shape as number[]);
  const withActivation = (stages: Stage[]): Stage[] | Unsupported => {
    const act = activation(config['activation'] ?? 'linear');
    return typeof act === 'string' ? no(act) : [...stages, ...act];
  };
  switch (kind) {
    case 'InputLayer':
      return [];
    case 'Dropout':
      return config['noiseShape'] ? no('noiseShape') : [dropout(Number(config['rate'] ?? 0))];
    case 'Dense':
      if ((layer.input as tf.SymbolicTensor).shape.length !== 2) return no('Dense on rank > 2');
      return withActivation([matMul(shapes[0]!), ...bias(config, shapes[0]![1]!)]);
    case 'Conv2D': {
      const [dh, dw] = pair(config['dilationRate'] ?? 1);
      if (dh !== 1 || dw !== 1) return no(`dilation ${dh}×${dw}`);
      return withActivation([conv2d(shapes[0]!, config), ...bias(config, shapes[0]![3]!)]);
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return [pool(kind === 'MaxPooling2D', config)];
    case 'Flatten':
    case 'Reshape':
      return [reshape((layer.outputShape as (number | null)[]).slice(1).map((d) => d ?? -1))];
    case 'Activation':
      return withActivation([]);
    default:
      return no();
  }
}
