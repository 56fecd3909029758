/**
 * A net's inference as one TensorFlow call per batch (ml/graph/step-graph.ts's inference graph in a session of its
 * own, holding a copy of the net's weights), where the net has a graph model and the native backend is active;
 * else its eager forward pass. Soft targets, evaluation and online teachers run through {@link netInference}.
 */
import * as tf from '@tensorflow/tfjs';
import { compiledWanted, graphModel } from './compiled-step';
import { layersGraph } from './graph/layers-graph';
import { buildInferenceGraph } from './graph/step-graph';
import { GraphSession, sessionsAvailable } from './graph/session';
import type { NodeDef } from './graph/proto';
import type { Net } from './models';

/** Logits of a batch, and the resources it holds. */
export interface NetInference {
  /** Logits (T = 1, no dropout) of `x`; the caller disposes the result. */
  forward(x: tf.Tensor2D): tf.Tensor2D;
  /** Whether batches run as one TensorFlow call (else the net's eager pass). */
  compiled: boolean;
  dispose(): void;
}

/**
 * Inference for `net` with its weights as they are now: compiled where it can be, else eager. A compiled one holds
 * a copy of the weights: make a new one after training changes them. `CHRYSALIS_STEP=eager` keeps it eager.
 */
export function netInference(net: Net, env: NodeJS.ProcessEnv = process.env): NetInference {
  const model = compiledWanted(env) !== undefined || !sessionsAvailable() ? undefined : graphModel(net);
  if (!model) return { forward: (x) => net.forward(x), compiled: false, dispose: () => undefined };
  return sessionInference(
    buildInferenceGraph(model),
    [...net.params].map(([name, v]) => [`in/${name}`, v] as const),
  );
}

/**
 * Inference for a loaded layers model (an export, a user's model) as one TensorFlow call per batch where its layers
 * have a graph (ml/graph/layers-graph.ts) and the native backend is active; else tfjs's own predict. `eagerWhy`
 * says why a model stays eager.
 */
export function layersInference(
  model: tf.LayersModel,
  env: NodeJS.ProcessEnv = process.env,
): NetInference & { eagerWhy?: string } {
  const eager = (why: string) => ({
    forward: (x: tf.Tensor2D) => model.predict(x) as tf.Tensor2D,
    compiled: false,
    eagerWhy: why,
    dispose: () => undefined,
  });
  const unwanted = compiledWanted(env);
  if (unwanted) return eager(unwanted);
  if (!sessionsAvailable()) return eager(`the ${tf.getBackend()} backend runs no graphs`);
  const graph = layersGraph(model);
  if ('unsupported' in graph) return eager(graph.unsupported);
  const values = model.layers.flatMap((l) => l.getWeights());
  return sessionInference(
    graph.nodes,
    values.map((v, i) => [`in/p${i}`, v] as const),
  );
}

/** A session on an inference graph (`eval/x` → `eval/logits`) with its weights fed in once through `load`. */
function sessionInference(nodes: NodeDef[], weights: (readonly [string, tf.Tensor])[]): NetInference {
  const session = GraphSession.open(nodes);
  try {
    tf.dispose(session.run(weights, ['load']));
  } catch (err) {
    session.dispose();
    throw err;
  }
  return {
    forward: (x) => session.run([['eval/x', x]], ['eval/logits'])[0] as tf.Tensor2D,
    compiled: true,
    dispose: () => session.dispose(),
  };
}
