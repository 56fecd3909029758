/**
 * A TensorFlow session on a graph of ours, run through the native backend tfjs-node already has: the graph is
 * written as a SavedModel without signatures or variables to a temporary directory, TensorFlow's loader opens a
 * session on it (the directory is removed at once), and every call feeds and fetches tensors by node name in one
 * TF_SessionRun. Variables the graph creates live in the session between calls, until it is disposed.
 *
 * In a session TensorFlow's graph optimiser (grappler) runs over the whole graph: MatMul + BiasAdd (+ Relu) become
 * one oneDNN kernel, updates run in place, and the per-op hand-offs of eager execution disappear
 * (../../docs/ARCHITECTURE.md, "One call per step").
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { NodeDef } from './proto';
import { encodeSavedModel } from './proto';

/** The part of tfjs-node's kernel backend a session uses (the package does not export it as a type). */
interface SessionBackend {
  loadSavedModelMetaGraph(dir: string, tags: string): number;
  deleteSavedModel(id: number): void;
  runSavedModel(
    id: number,
    inputs: tf.Tensor[],
    infos: { name: string; tfDtype: string }[],
    outputs: string[],
  ): tf.Tensor[];
}

const TAG = 'chrysalis';

/** Whether sessions can run: the native backend is the active one. */
export function sessionsAvailable(): boolean {
  if (tf.getBackend() !== 'tensorflow') return false;
  return typeof (tf.backend() as unknown as Partial<SessionBackend>).runSavedModel === 'function';
}

export class GraphSession {
  private id: number | undefined;

  private constructor(
    private readonly backend: SessionBackend,
    id: number,
  ) {
    this.id = id;
  }

  /** Opens a session on `nodes`; throws when the native backend is not active or TensorFlow refuses the graph. */
  static open(nodes: readonly NodeDef[]): GraphSession {
    if (!sessionsAvailable()) throw new Error('graph sessions need the native TensorFlow backend');
    const backend = tf.backend() as unknown as SessionBackend;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-graph-'));
    try {
      writeFileSync(path.join(dir, 'saved_model.pb'), encodeSavedModel(nodes, TAG));
      return new GraphSession(backend, backend.loadSavedModelMetaGraph(dir, TAG));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * One TF_SessionRun: feeds each [node, tensor] and returns the fetched outputs (`node` or `node:i`) as tfjs
   * tensors the caller disposes.
   */
  run(feeds: readonly (readonly [string, tf.Tensor])[], fetches: readonly string[]): tf.Tensor[] {
    if (this.id === undefined) throw new Error('graph session already disposed');
    const infos = feeds.map(([name, t]) => ({ name, tfDtype: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }));
    return this.backend.runSavedModel(
      this.id,
      feeds.map(([, t]) => t),
      infos,
      [...fetches],
    );
  }

  dispose(): void {
    if (this.id === undefined) return;
    this.backend.deleteSavedModel(this.id);
    this.id = undefined;
  }
}
