/**
 * measureModels: what each model costs to deploy — parameters, exported bytes, and inference speed on
 * the worker's native backend and on plain tfjs (a child process without the native addon). Measured
 * on the exported layers model, the artifact a user ships.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { jsonBytes } from '../storage/artifact-store';
import { measureSpeed, parameterCount } from '../ml/inference-speed';
import type { Speed } from '../ml/inference-speed';
import { machineInfo } from '../ml/machine';
import type { ExportedModel } from '../ml/export';
import { layersExport } from './artifacts';
import { activityContext } from './durable-training';
import type { TrainingDeps } from './durable-training';
import type { MeasureRequest, MeasureResult, ModelCost } from './types';

const run = promisify(execFile);
const PLAIN_SPEED = path.join(__dirname, '..', 'workers', 'plain-speed.js');
/** A model too slow to time within this on plain tfjs is a finding, not a hang. */
const PLAIN_TIMEOUT_MS = 15 * 60_000;

async function nativeSpeed(exported: ExportedModel, inputSize: number, calls: number): Promise<[number, Speed]> {
  const { modelJson, weights } = exported;
  const group = (modelJson['weightsManifest'] as { weights: tf.io.WeightsManifestEntry[] }[])[0]!;
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson['modelTopology'] as object,
      weightSpecs: group.weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    }),
  );
  try {
    return [parameterCount(model), await measureSpeed(model, inputSize, { batch1Calls: calls })];
  } finally {
    model.dispose();
  }
}

async function plainSpeed(exported: ExportedModel, calls: number): Promise<Speed> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chrysalis-speed-'));
  try {
    await writeFile(path.join(dir, 'model.json'), jsonBytes(exported.modelJson));
    await writeFile(path.join(dir, exported.weightsFile), exported.weights);
    const ctx = activityContext();
    const beat = setInterval(() => ctx?.heartbeat({ measuring: 'plain tfjs' }), 5000);
    const { stdout } = await run(process.execPath, [PLAIN_SPEED, dir, String(calls)], {
      timeout: PLAIN_TIMEOUT_MS,
      maxBuffer: 1 << 20,
      ...(ctx ? { signal: ctx.cancellationSignal } : {}),
    }).finally(() => clearInterval(beat));
    return JSON.parse(stdout.trim().split('\n').pop()!) as Speed;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureModels(deps: TrainingDeps, req: MeasureRequest): Promise<MeasureResult> {
  const calls = req.batch1Calls ?? 200;
  const costs: MeasureResult['costs'] = [];
  for (const { name, model } of req.models) {
    const exported = await layersExport(deps.store, model, req.classNames);
    const inputSize = exported.inputShape.reduce((a, d) => a * d, 1);
    const [parameters, native] = await nativeSpeed(exported, inputSize, calls);
    activityContext()?.heartbeat({ measured: name, backend: 'native' });
    const plain = await plainSpeed(exported, calls);
    activityContext()?.heartbeat({ measured: name, backend: 'plain' });
    const exportBytes = jsonBytes(exported.modelJson).byteLength + exported.weights.byteLength;
    const cost: ModelCost = { parameters, exportBytes, native, plain };
    deps.logger.info({ model: name, ...cost }, `measured ${name}: ${parameters} parameters, ${exportBytes} bytes`);
    costs.push({ name, cost });
  }
  return { machine: machineInfo(), costs };
}

export const modelCostActivities = { measureModels };
