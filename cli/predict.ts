/**
 * `chrysalis predict --model <ref> <input…>`: classify 28×28 grey PNGs or IDX image files with an
 * exported model: a single layers model (model.json + weights) or a generalist + specialists package
 * (combination.json, combined by the package's loader, the same code as ml/specialists/combination-loader).
 * <ref> is a local directory, an `exports/<digest>` prefix in MinIO, or the workflow id of a finished
 * distillation run (its exported student) or specialists run (its package).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import { parseIdx } from '../ml/idx';
import type { PackageReader } from '../ml/specialists/combination-loader.mjs' with { 'resolution-mode': 'import' };
import { CliError, Exit, connect } from './context';
import { fetchExport, resolveExportPrefix } from './export';

/**
 * An export, read file by file: one layers model (model.json), or a generalist + specialists package
 * (combination.json).
 */
interface Loaded {
  kind: 'model' | 'combination';
  read: PackageReader;
  source: string;
}

function fromDirectory(dir: string): Loaded | undefined {
  const kind = existsSync(path.join(dir, 'combination.json'))
    ? 'combination'
    : existsSync(path.join(dir, 'model.json'))
      ? 'model'
      : undefined;
  return kind && { kind, read: async (rel) => new Uint8Array(readFileSync(path.join(dir, rel))), source: dir };
}

async function loadPackage(ref: string): Promise<Loaded> {
  const local = fromDirectory(ref);
  if (local) return local;
  const ctx = await connect();
  try {
    const prefix = await resolveExportPrefix(ctx, ref, '--model');
    // Fetch the whole export now: the connection closes before the model is read.
    const files = await fetchExport(ctx, prefix);
    const source = `minio:${prefix}`;
    const kind = files.has('combination.json') ? 'combination' : files.has('model.json') ? 'model' : undefined;
    if (!kind) throw new CliError(`${source}: neither model.json nor combination.json`, Exit.unavailable);
    const read: PackageReader = async (rel) => {
      const bytes = files.get(rel);
      if (!bytes) throw new CliError(`${source}: the export has no ${rel}`, Exit.unavailable);
      return bytes;
    };
    return { kind, read, source };
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
      const node = require('@tensorflow/tfjs-node') as {
        node: { decodePng(b: Uint8Array, channels?: number): tf.Tensor3D };
      };
      const img = node.node.decodePng(bytes, 1);
      const [h, w] = img.shape;
      if (h !== 28 || w !== 28) throw new CliError(`${f}: expected a 28×28 grey image, got ${w}×${h}`);
      rows.push(Float32Array.from(img.dataSync(), (v) => v / 255));
      img.dispose();
      names.push(path.basename(f));
      size = 784;
    } else {
      const idx = parseIdx(bytes, f);
      if (idx.shape.length !== 3)
        throw new CliError(`${f}: expected an IDX image file (3 dimensions), got ${idx.shape.length}`);
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

interface Classified {
  probabilities: Float32Array;
  classNames: string[] | undefined;
  numClasses: number;
  active?: string[][];
}

async function classify(loaded: Loaded, x: Float32Array, n: number, size: number): Promise<Classified> {
  // The package's own loader (ml/specialists/combination-loader) reads both kinds of export.
  const { loadCombination, loadLayers } = await import('../ml/specialists/combination-loader.mjs');
  if (loaded.kind === 'combination') {
    const model = await loadCombination(tf, loaded.read);
    try {
      const p = await model.predict(x);
      return {
        probabilities: p.probabilities,
        classNames: p.classNames,
        numClasses: p.numClasses,
        active: p.active.map((a) => a.map((m) => model.manifest.specialists[m]!.name)),
      };
    } finally {
      model.dispose();
    }
  }
  const model = await loadLayers(tf, loaded.read);
  try {
    const probabilities = tf.tidy(
      () => (model.predict(tf.tensor2d(x, [n, size])) as tf.Tensor2D).dataSync() as Float32Array,
    );
    const classNames = (model.getUserDefinedMetadata() as { classNames?: string[] } | undefined)?.classNames;
    return { probabilities, classNames, numClasses: probabilities.length / Math.max(1, n) };
  } finally {
    model.dispose();
  }
}

export async function predictCommand(
  ref: string | undefined,
  inputs: string[],
  opts: { json: boolean; limit: number; top: number },
): Promise<number> {
  if (!ref) throw new CliError('predict needs --model <dir | exports/<digest> | workflowId>');
  if (inputs.length === 0) throw new CliError('predict needs at least one input file (PNG 28×28 grey, or IDX images)');
  process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
  await initBackend({ requested: 'auto', warn: (m) => process.stderr.write(`warning: ${m}\n`) });
  const loaded = await loadPackage(ref);
  const { x, names, size } = readInputs(inputs, opts.limit);
  const { probabilities, classNames, numClasses: C, active } = await classify(loaded, x, names.length, size);
  const results = names.map((name, i) => ({
    input: name,
    top: Array.from(probabilities.subarray(i * C, i * C + C), (p, c) => ({
      class: c,
      name: classNames?.[c] ?? String(c),
      probability: p,
    }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, opts.top),
    ...(active ? { specialists: active[i]! } : {}),
  }));
  if (opts.json)
    process.stdout.write(`${JSON.stringify({ model: loaded.source, kind: loaded.kind, results }, null, 2)}\n`);
  else {
    for (const r of results) {
      const fired = r.specialists
        ? `  [specialists: ${r.specialists.length > 0 ? r.specialists.join(', ') : 'none'}]`
        : '';
      process.stdout.write(
        `${r.input}: ${r.top.map((t) => `${t.name} ${(t.probability * 100).toFixed(1)}%`).join(', ')}${fired}\n`,
      );
    }
  }
  return Exit.ok;
}
