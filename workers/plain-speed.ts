/**
 * Times an exported layers model on plain @tensorflow/tfjs (WASM, else pure-JS CPU) in a process of
 * its own: the native addon is never loaded here, so the figure is what a browser or an edge device
 * without TensorFlow gets. Run by the measureModels activity; prints one JSON line (ml/inference-speed).
 *   node dist/workers/plain-speed.js <export dir> [batch-1 calls]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import { measureSpeed } from '../ml/inference-speed';

async function main(): Promise<void> {
  const [dir, calls] = process.argv.slice(2);
  if (!dir) throw new Error('usage: plain-speed <export dir> [batch-1 calls]');
  try {
    await initBackend({ requested: 'wasm' });
  } catch {
    await tf.setBackend('cpu'); // no WASM binary: pure JS still answers the question, and says so
  }
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const group = json.weightsManifest[0]!;
  const shards = group.paths.map((p) => readFileSync(path.join(dir, p)));
  const weights = Buffer.concat(shards);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: group.weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
  const inputSize = (model.inputs[0]!.shape.slice(1) as number[]).reduce((a, d) => a * d, 1);
  const speed = await measureSpeed(model, inputSize, calls ? { batch1Calls: Number(calls) } : {});
  process.stdout.write(`${JSON.stringify(speed)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
