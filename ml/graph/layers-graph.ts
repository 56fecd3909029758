/**
 * A tfjs layers model's inference as graph nodes: the layer chain of a Sequential-like model (each layer fed by the
 * one before) of the layer kinds chrysalis exports and users commonly write — Dense, Conv2D, MaxPooling2D,
 * AveragePooling2D, Flatten, Reshape, Dropout (nothing at inference), Activation, InputLayer — with linear, relu,
 * relu6, sigmoid, tanh, elu and softmax activations. Anything else has no graph here: callers keep tfjs's own
 * predict, and say so.
 */
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder } from './builder';
import type { Out } from './builder';
import type { NodeDef } from './proto';

/**
 * The graph of `model`'s inference, with its weights fed as `in/p0`, `in/p1`… in the order of
 * `model.layers.flatMap((l) => l.getWeights())`, or why there is none.
 */
export type LayersGraph =
  { nodes: NodeDef[]; weights: { name: string; shape: number[] }[]; input: number[] } | { unsupported: string };

const ACTIVATIONS: Record<string, string | undefined> = {
  linear: undefined,
  relu: 'Relu',
  relu6: 'Relu6',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  elu: 'Elu',
  softmax: 'Softmax',
};

type Config = Record<string, unknown>;

const padding = (config: Config): string => (config['padding'] === 'same' ? 'SAME' : 'VALID');

/** An [h, w] pair from a layer config's number or pair. */
const pair = (v: unknown): [number, number] =>
  Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)];

export function layersGraph(model: tf.LayersModel): LayersGraph {
  const b = new GraphBuilder();
  const weights: { name: string; shape: number[] }[] = [];
  const load: Out[] = [];
  const param = (shape: number[]): Out => {
    const name = `p${weights.length}`;
    weights.push({ name, shape });
    const v = b.variable(name, shape);
    load.push(b.assign(v, b.placeholder(`in/${name}`, 'float', shape)));
    return b.read(v);
  };
  const input = (model.inputs[0]?.shape ?? []).map((d) => d ?? -1);
  let a = b.placeholder('eval/x', 'float', input);
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    const config = layer.getConfig() as Config;
    if (kind !== 'Flatten' && config['dataFormat'] !== undefined && config['dataFormat'] !== 'channelsLast')
      return { unsupported: `${layer.name}: dataFormat ${JSON.stringify(config['dataFormat'])}` };
    const activate = (x: Out): Out | string => {
      const fn = config['activation'] ?? 'linear';
      if (typeof fn !== 'string' || !(fn in ACTIVATIONS)) return `${layer.name}: activation ${JSON.stringify(fn)}`;
      const op = ACTIVATIONS[fn];
      return op ? b.f(op, [x]) : x;
    };
    const withBias = (x: Out, units: number): Out =>
      config['useBias'] === false ? x : b.f('BiasAdd', [x, param([units])]);
    let next: Out | string;
    switch (kind) {
      case 'InputLayer':
      case 'Dropout':
        continue;
      case 'Dense': {
        if ((layer.input as tf.SymbolicTensor).shape.length !== 2)
          return { unsupported: `${layer.name}: Dense on rank > 2` };
        const w = layer.getWeights()[0]!;
        next = activate(withBias(b.matMul(a, param(w.shape)), w.shape[1]!));
        break;
      }
      case 'Conv2D': {
        const k = layer.getWeights()[0]!;
        const [sh, sw] = pair(config['strides'] ?? 1);
        const [dh, dw] = pair(config['dilationRate'] ?? 1);
        if (dh !== 1 || dw !== 1) return { unsupported: `${layer.name}: dilation ${dh}×${dw}` };
        const conv = b.f('Conv2D', [a, param(k.shape)], {
          strides: { listInt: [1, sh, sw, 1] },
          padding: { s: padding(config) },
        });
        next = activate(withBias(conv, k.shape[3]!));
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const [ph, pw] = pair(config['poolSize'] ?? 2);
        const [sh, sw] = pair(config['strides'] ?? config['poolSize'] ?? 2);
        next = b.f(kind === 'MaxPooling2D' ? 'MaxPool' : 'AvgPool', [a], {
          ksize: { listInt: [1, ph, pw, 1] },
          strides: { listInt: [1, sh, sw, 1] },
          padding: { s: padding(config) },
        });
        break;
      }
      case 'Flatten':
      case 'Reshape': {
        const out = (layer.outputShape as (number | null)[]).slice(1).map((d) => d ?? -1);
        next = b.op('Reshape', [a, b.ints([-1, ...out])], { T: { type: 'float' }, Tshape: { type: 'int32' } });
        break;
      }
      case 'Activation':
        next = activate(a);
        break;
      default:
        return { unsupported: `${layer.name}: layer ${kind}` };
    }
    if (typeof next === 'string') return { unsupported: next };
    a = next;
  }
  b.identity(a, 'eval/logits');
  b.identity(b.scalar(0), 'load', load);
  return { nodes: b.nodes, weights, input };
}
