/**
 * A tfjs layers model's inference as graph nodes: the layer chain of a Sequential-like model (each layer fed by the
 * one before) of the layer kinds chrysalis exports and users commonly write — Dense, Conv2D, MaxPooling2D,
 * AveragePooling2D, Flatten, Reshape, Dropout (nothing at inference), Activation, InputLayer — with linear, relu,
 * relu6, sigmoid, tanh, elu and softmax activations (ml/graph/layer-stages.ts). Anything else has no graph here:
 * callers keep tfjs's own predict, and say so.
 */
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder } from './builder';
import { chainParams, layerChain, runChain } from './layers-train-graph';
import type { NodeDef } from './proto';

/**
 * The graph of `model`'s inference, with its weights fed as `in/p0`, `in/p1`… in the order of
 * `model.layers.flatMap((l) => l.getWeights())`, or why there is none.
 */
export type LayersGraph =
  { nodes: NodeDef[]; weights: { name: string; shape: number[] }[]; input: number[] } | { unsupported: string };

export function layersGraph(model: tf.LayersModel): LayersGraph {
  const chain = layerChain(model.layers);
  if (!Array.isArray(chain)) return { unsupported: `${chain.layer}: ${chain.detail ?? `layer ${chain.kind}`}` };
  const b = new GraphBuilder();
  const weights = chainParams(chain);
  const reads = new Map(
    weights.map((w) => {
      const v = b.variable(w.name, w.shape);
      return [w.name, { assign: b.assign(v, b.placeholder(`in/${w.name}`, 'float', w.shape)), read: b.read(v) }];
    }),
  );
  const input = (model.inputs[0]?.shape ?? []).map((d) => d ?? -1);
  const x = b.placeholder('eval/x', 'float', input);
  const pass = runChain(b, chain, x, (p) => reads.get(p)!.read);
  b.identity(pass[pass.length - 1]?.output ?? x, 'eval/logits');
  b.identity(
    b.scalar(0),
    'load',
    [...reads.values()].map((r) => r.assign),
  );
  return { nodes: b.nodes, weights, input };
}
