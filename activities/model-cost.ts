/**
 * measureModels: what each model costs to deploy — parameters, exported bytes, and inference speed on
 * the worker's native backend and on plain tfjs (a child process without the native addon). Measured
 * on the exported layers model, the artifact a user ships.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { jsonBytes } from '../storage/artifact-store';
import { layersInference } from '../ml/compiled-inference';
import { measureSpeed } from '../ml/inference-speed';
import type { Speed } from '../ml/inference-speed';
import { machineInfo } from '../ml/machine';
import type { ExportedModel } from '../ml/export';
import { layersExport } from '../artifacts/models';
import { activityContext } from './durable-training';
import type { TrainingDeps } from './durable-training';
import type { MeasureRequest, MeasureResult } from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';

const run = promisify(execFile);
const PLAIN_SPEED = path.join(__dirname, '..', 'workers', 'plain-speed.js');
/** A model too slow to time within this on plain tfjs is a finding, not a hang. */
const PLAIN_TIMEOUT_MS = 15 * 60_000;

async function nativeSpeed(exported: ExportedModel, inputSize: number, calls: number): Promise<Speed> {
  const { modelJson, weights } = exported;
  const group = (modelJson['weightsManifest'] as { weights: tf.io.WeightsManifestEntry[] }[])[0]!;
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson['modelTopology'] as object,
      weightSpecs: group.weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    }),
  );
  // Timed as chrysalis runs it: one TensorFlow call per batch where the layers have a graph.
  const inference = layersInference(model);
  try {
    return await measureSpeed(inference, inputSize, { batch1Calls: calls });
  } finally {
    inference.dispose();
    model.dispose();
  }
}

/**
 * Times every export on plain tfjs in ONE child process (one start-up and WASM load for all of them); its stdout
 * is one Speed line per directory, in order.
 */
async function plainSpeeds(exports: ExportedModel[], calls: number): Promise<Speed[]> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'chrysalis-speed-'));
  try {
    const dirs = exports.map((_, i) => path.join(root, String(i)));
    for (const [i, exported] of exports.entries()) {
      await mkdir(dirs[i]!);
      await writeFile(path.join(dirs[i]!, 'model.json'), jsonBytes(exported.modelJson));
      await writeFile(path.join(dirs[i]!, exported.weightsFile), exported.weights);
    }
    const ctx = activityContext();
    const beat = setInterval(() => ctx?.heartbeat({ measuring: 'plain tfjs' }), 5000);
    const { stdout } = await run(process.execPath, [PLAIN_SPEED, String(calls), ...dirs], {
      timeout: PLAIN_TIMEOUT_MS * exports.length,
      maxBuffer: 1 << 20,
      ...(ctx ? { signal: ctx.cancellationSignal } : {}),
    }).finally(() => clearInterval(beat));
    const lines = stdout.trim().split('\n').slice(-exports.length);
    return lines.map((line) => JSON.parse(line) as Speed);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * What inference speed depends on: the layers and their configuration, not the weights or the names tfjs numbers
 * layers with. Models with equal keys (a sweep's students, a run's baseline and its distilled students) are timed
 * once; timing each again would only add noise, and minutes of a run's wall time.
 */
export function architectureKey(modelJson: Record<string, unknown>): string {
  const unnamed = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(unnamed)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (k === 'name' ? [] : [[k, unnamed(x)]])))
        : v;
  return JSON.stringify(unnamed(modelJson['modelTopology']));
}

/** Every number the export stores, from its weights manifest. */
function exportedParameters(exported: ExportedModel): number {
  const groups = exported.modelJson['weightsManifest'] as { weights: tf.io.WeightsManifestEntry[] }[];
  return groups.flatMap((g) => g.weights).reduce((a, w) => a + w.shape.reduce((p, d) => p * d, 1), 0);
}

type Exported = ExportedModel & { name: string; inputShape: readonly number[] };

/** Native and plain speeds of each architecture among `models`, by architectureKey. */
async function speedsByArchitecture(models: Exported[], calls: number): Promise<Map<string, TimedOnce>> {
  const first = new Map<string, Exported>();
  for (const m of models) if (!first.has(architectureKey(m.modelJson))) first.set(architectureKey(m.modelJson), m);
  const timed = [...first.values()];
  const native: Speed[] = [];
  for (const m of timed) {
    native.push(
      await nativeSpeed(
        m,
        m.inputShape.reduce((a, d) => a * d, 1),
        calls,
      ),
    );
    activityContext()?.heartbeat({ measured: m.name, backend: 'native' });
  }
  const plain = await plainSpeeds(timed, calls);
  return new Map([...first.keys()].map((k, i) => [k, { on: timed[i]!.name, native: native[i]!, plain: plain[i]! }]));
}

interface TimedOnce {
  /** The model the architecture was timed on. */
  on: string;
  native: Speed;
  plain: Speed;
}

async function measureModels(deps: TrainingDeps, req: MeasureRequest): Promise<MeasureResult> {
  const models: Exported[] = [];
  for (const { name, model } of req.models)
    models.push({ name, ...(await layersExport(deps.store, model, req.classNames)) });
  const speeds = await speedsByArchitecture(models, req.batch1Calls ?? 200);
  const costs = models.map((m) => {
    const { on, native, plain } = speeds.get(architectureKey(m.modelJson))!;
    const exportBytes = jsonBytes(m.modelJson).byteLength + m.weights.byteLength;
    const cost: ModelCost = { parameters: exportedParameters(m), exportBytes, native, plain };
    const shared = on === m.name ? '' : ` (speed timed on ${on}, the same architecture)`;
    deps.logger.info(
      { model: m.name, ...cost, timedOn: on },
      `measured ${m.name}: ${cost.parameters} parameters, ${exportBytes} bytes${shared}`,
    );
    return { name: m.name, cost };
  });
  return { machine: machineInfo(), costs };
}

export const modelCostActivities = { measureModels };
