/**
 * `chrysalis predict --model <ref> <input…>`: classify PNG/JPEG images of any size (resized to the model's
 * input, with its channels), IDX image files or, for a model trained on a table, the rows of a CSV file (its
 * feature columns by name), each normalised as the model's training data was, with an
 * exported model: a single layers model (model.json + weights) or a generalist + specialists package
 * (combination.json, combined by the package's loader, the same code as ml/specialists/combination-loader).
 * <ref> is a local directory, an `exports/<digest>` prefix in MinIO, or the workflow id of a finished
 * distillation run (its exported student) or specialists run (its package).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { layersInference } from '../ml/compiled-inference';
import { tidyValues } from '../ml/tidy-values';
import { initBackend } from '../ml/backend';
import { parseIdx } from '../ml/idx';
import { channelsOf } from '../common/input-shape';
import { CsvError, columnIndices, featureMatrix, readCsvTable } from '../data/csv';
import { ImageDecodeError, decodeImage } from '../data/images';
import { applyNormalization } from '../ml/normalize';
import type { Normalization } from '../common/normalization';
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

/** What an export takes: its input shape (28×28 grey for exports that predate it), normalisation, table columns. */
interface ExportInput {
  shape: number[];
  normalization?: Normalization;
  features?: string[];
}

async function inputOf(loaded: Loaded): Promise<ExportInput> {
  const raw = await loaded.read(`${loaded.kind}.json`);
  const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw);
  type Meta = Partial<ExportInput> & { inputShape?: number[] };
  const json = JSON.parse(text) as Meta & { userDefinedMetadata?: Meta };
  const meta: Meta = loaded.kind === 'model' ? (json.userDefinedMetadata ?? {}) : json;
  return {
    shape: json.inputShape ?? meta.inputShape ?? [28, 28],
    ...(meta.normalization ? { normalization: meta.normalization } : {}),
    ...(meta.features ? { features: meta.features } : {}),
  };
}

/** Raw values (uint8 pixels, or a table's numbers) as the model's inputs: its normalisation, else pixels / 255. */
function toInputs(raw: ArrayLike<number>, input: ExportInput): Float32Array {
  if (!input.normalization) return Float32Array.from(raw, (v) => v / 255);
  return applyNormalization(raw, input.features?.length ?? channelsOf(input.shape), input.normalization);
}

/** A PNG or JPEG of any size as one example of `shape`: decoded and resized as training images were. */
function readImage(f: string, bytes: Uint8Array, input: ExportInput): Float32Array {
  const [h, w, c = 1] = input.shape as [number, number, number?];
  try {
    return toInputs(decodeImage(bytes, [h, w, c]), input);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw new CliError(`${f}: ${err.message}`);
    throw err;
  }
}

/** The rows of a CSV table with the model's feature columns (by name, in any order; other columns ignored). */
function readTableRows(f: string, bytes: Uint8Array, input: ExportInput, limit: number) {
  if (!input.features)
    throw new CliError(`${f}: a CSV table, but the model takes images of shape [${input.shape.join(', ')}]`);
  try {
    const table = readCsvTable(new TextDecoder().decode(bytes));
    const rows = { ...table, rows: table.rows.slice(0, limit) };
    const values = featureMatrix(rows, columnIndices(table.columns, input.features));
    const size = input.features.length;
    return rows.rows.map((r, i) => ({
      name: `${path.basename(f)}:${r.line}`,
      x: toInputs(values.subarray(i * size, (i + 1) * size), input),
    }));
  } catch (err) {
    if (err instanceof CsvError) throw new CliError(`${f}: ${err.message}`);
    throw err;
  }
}

const isImage = (b: Uint8Array) => (b[0] === 0x89 && b[1] === 0x50) || (b[0] === 0xff && b[1] === 0xd8);

/** Examples as [n, size] model inputs for an export taking `input`, with a label for each. */
function readInputs(
  files: string[],
  limit: number,
  input: ExportInput,
): { x: Float32Array; names: string[]; size: number } {
  const size = input.shape.reduce((a, d) => a * d, 1);
  const rows: Float32Array[] = [];
  const names: string[] = [];
  for (const f of files) {
    const bytes = new Uint8Array(readFileSync(f));
    if (isImage(bytes)) {
      rows.push(readImage(f, bytes, input));
      names.push(path.basename(f));
      continue;
    }
    if (/\.csv$/i.test(f) || input.features) {
      for (const r of readTableRows(f, bytes, input, limit)) {
        rows.push(r.x);
        names.push(r.name);
      }
      continue;
    }
    const idx = parseIdx(bytes, f);
    const each = idx.shape.slice(1);
    if (each.reduce((a, d) => a * d, 1) !== size || (idx.shape.length !== 3 && idx.shape.length !== 4))
      throw new CliError(`${f}: IDX images of shape [${each.join(', ')}]; the model takes [${input.shape.join(', ')}]`);
    for (let i = 0; i < Math.min(idx.shape[0]!, limit); i++) {
      rows.push(toInputs(idx.data.subarray(i * size, (i + 1) * size), input));
      names.push(`${path.basename(f)}[${i}]`);
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
  // One TensorFlow call for the batch where the export's layers have a graph (ml/compiled-inference.ts).
  const inference = layersInference(model);
  try {
    const probabilities = tidyValues(() => inference.forward(tf.tensor2d(x, [n, size])));
    const classNames = (model.getUserDefinedMetadata() as { classNames?: string[] } | undefined)?.classNames;
    return { probabilities, classNames, numClasses: probabilities.length / Math.max(1, n) };
  } finally {
    inference.dispose();
    model.dispose();
  }
}

export async function predictCommand(
  ref: string | undefined,
  inputs: string[],
  opts: { json: boolean; limit: number; top: number },
): Promise<number> {
  if (!ref) throw new CliError('predict needs --model <dir | exports/<digest> | workflowId>');
  if (inputs.length === 0)
    throw new CliError('predict needs at least one input file (PNG or JPEG, IDX images, or a CSV table)');
  process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
  await initBackend({ requested: 'auto', warn: (m) => process.stderr.write(`warning: ${m}\n`) });
  const loaded = await loadPackage(ref);
  const { x, names, size } = readInputs(inputs, opts.limit, await inputOf(loaded));
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
