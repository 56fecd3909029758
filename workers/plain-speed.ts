/**
 * Times exported layers models on plain @tensorflow/tfjs (WASM, else pure-JS CPU) in a process of
 * its own: the native addon is never loaded here, so the figure is what a browser or an edge device
 * without TensorFlow gets. Run by the measureModels activity, once for all of its models; prints one JSON line
 * (ml/inference-speed's Speed) per directory, in order.
 *   node dist/workers/plain-speed.js <batch-1 calls> <export dir>...
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import { measureSpeed } from '../ml/inference-speed';

/** Loads an exported layers model from `dir` (model.json and its weight shards). */
async function loadExport(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const group = json.weightsManifest[0]!;
  const weights = Buffer.concat(group.paths.map((p) => readFileSync(path.join(dir, p))));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: group.weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
}

async function main(): Promise<void> {
  const [calls, ...dirs] = process.argv.slice(2);
  if (!calls || !(Number(calls) >= 1) || dirs.length === 0)
    throw new Error('usage: plain-speed <batch-1 calls> <export dir>...');
  try {
    await initBackend({ requested: 'wasm' });
  } catch {
    await tf.setBackend('cpu'); // no WASM binary: pure JS still answers the question, and says so
  }
  for (const dir of dirs) {
    const model = await loadExport(dir);
    const inputSize = (model.inputs[0]!.shape.slice(1) as number[]).reduce((a, d) => a * d, 1);
    const speed = await measureSpeed(model, inputSize, { batch1Calls: Number(calls) });
    model.dispose();
    process.stdout.write(`${JSON.stringify(speed)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
