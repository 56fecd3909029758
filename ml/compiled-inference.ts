/**
 * A net's inference as one TensorFlow call per batch (ml/graph/step-graph.ts's inference graph in a session of its
 * own, holding a copy of the net's weights), where the net has a graph model and the native backend is active;
 * else its eager forward pass. Soft targets, evaluation and online teachers run through {@link netInference}.
 */
import * as tf from '@tensorflow/tfjs';
import { graphModel } from './compiled-step';
import { buildInferenceGraph } from './graph/step-graph';
import { GraphSession, sessionsAvailable } from './graph/session';
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
  const model = env['CHRYSALIS_STEP'] === 'eager' || !sessionsAvailable() ? undefined : graphModel(net);
  if (!model) return { forward: (x) => net.forward(x), compiled: false, dispose: () => undefined };
  const session = GraphSession.open(buildInferenceGraph(model));
  try {
    const feeds = [...net.params].map(([name, v]) => [`in/${name}`, v] as const);
    tf.dispose(session.run(feeds, ['load']));
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
