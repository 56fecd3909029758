/**
 * `chrysalis predict --model <ref> <input…>`: classify 28×28 grey PNGs or IDX image files with an
 * exported model. <ref> is a local directory holding model.json (+ weights), an `exports/<digest>`
 * prefix in MinIO, or the workflow id of a finished distillation run (its exported student).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import { parseIdx } from '../ml/idx';
import type { DistillationSummary } from '../workflows';
import { CliError, Exit, connect } from './context';

interface LayersModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  userDefinedMetadata?: { classNames?: string[]; inputShape?: [number, number] };
}

async function loadModelFiles(ref: string): Promise<{ json: LayersModelJson; weights: Uint8Array; source: string }> {
  if (existsSync(path.join(ref, 'model.json'))) {
    const json = JSON.parse(readFileSync(path.join(ref, 'model.json'), 'utf8')) as LayersModelJson;
    return { json, weights: new Uint8Array(readFileSync(path.join(ref, json.weightsManifest[0]!.paths[0]!))), source: ref };
  }
  const ctx = await connect();
  try {
    let prefix = ref.replace(/\/(model\.json)?$/, '');
    if (!prefix.startsWith('exports/')) {
      const summary = await ctx.client.workflow.getHandle(ref).result().catch(() => undefined) as DistillationSummary | undefined;
      if (!summary?.exported) throw new CliError(`--model ${ref}: not a directory with model.json, an exports/<digest> key, or a finished run with an exported model`);
      prefix = summary.exported.modelJson.replace(/\/model\.json$/, '');
    }
    const store = await ctx.store();
    const json = JSON.parse(new TextDecoder().decode(await store.get(`${prefix}/model.json`))) as LayersModelJson;
    return { json, weights: await store.get(`${prefix}/${json.weightsManifest[0]!.paths[0]!}`), source: `minio:${prefix}` };
  } finally {
    await ctx.close();
  }
}

/** Images as [n, 784] floats in [0, 1], with a label for each. */
function readInputs(files: string[], limit: number): { x: Float32Array; names: string[]; size: number } {
  const rows: Float32Array[] = [];
  const names: string[] = [];
  let size = 0;
  for (const f of files) {
    const bytes = new Uint8Array(readFileSync(f));
    if (bytes[0] === 0x89 && bytes[1] === 0x50) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const node = require('@tensorflow/tfjs-node') as { node: { decodePng(b: Uint8Array, channels?: number): tf.Tensor3D } };
      const img = node.node.decodePng(bytes, 1);
      const [h, w] = img.shape;
      if (h !== 28 || w !== 28) throw new CliError(`${f}: expected a 28×28 grey image, got ${w}×${h}`);
      rows.push(Float32Array.from(img.dataSync(), (v) => v / 255));
      img.dispose();
      names.push(path.basename(f));
      size = 784;
    } else {
      const idx = parseIdx(bytes, f);
      if (idx.shape.length !== 3) throw new CliError(`${f}: expected an IDX image file (3 dimensions), got ${idx.shape.length}`);
      const [n, h, w] = idx.shape as [number, number, number];
      size = h * w;
      for (let i = 0; i < Math.min(n, limit); i++) {
        rows.push(Float32Array.from(idx.data.subarray(i * size, (i + 1) * size), (v) => v / 255));
        names.push(`${path.basename(f)}[${i}]`);
      }
    }
  }
  const x = new Float32Array(rows.length * size);
  rows.forEach((r, i) => x.set(r, i * size));
  return { x, names, size };
}

export async function predictCommand(ref: string | undefined, inputs: string[], opts: { json: boolean; limit: number; top: number }): Promise<number> {
  if (!ref) throw new CliError('predict needs --model <dir | exports/<digest> | workflowId>');
  if (inputs.length === 0) throw new CliError('predict needs at least one input file (PNG 28×28 grey, or IDX images)');
  process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
  await initBackend({ requested: 'auto', warn: (m) => process.stderr.write(`warning: ${m}\n`) });
  const { json, weights, source } = await loadModelFiles(ref);
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0]!.weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
  }));
  const { x, names, size } = readInputs(inputs, opts.limit);
  const probs = tf.tidy(() => (model.predict(tf.tensor2d(x, [names.length, size])) as tf.Tensor2D).arraySync());
  const classNames = json.userDefinedMetadata?.classNames;
  const results = names.map((name, i) => ({
    input: name,
    top: probs[i]!.map((p, c) => ({ class: c, name: classNames?.[c] ?? String(c), probability: p })).sort((a, b) => b.probability - a.probability).slice(0, opts.top),
  }));
  if (opts.json) process.stdout.write(`${JSON.stringify({ model: source, results }, null, 2)}\n`);
  else for (const r of results) process.stdout.write(`${r.input}: ${r.top.map((t) => `${t.name} ${(t.probability * 100).toFixed(1)}%`).join(', ')}\n`);
  return Exit.ok;
}
