/**
 * Loads an exported layers model in a bare Node process that has nothing but @tensorflow/tfjs (its
 * pure-JS CPU backend): proof that exports work without chrysalis or the native addon.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../config/env';

/** Reads an IDX file (gzipped or not) and returns its data after the header. */
const READ_IDX = `
const idx = (f) => {
  let b = fs.readFileSync(f);
  if (b[0] === 0x1f) b = zlib.gunzipSync(b);
  const d = b[3];
  return b.subarray(4 + 4 * d);
};`;

const SCRIPT = (tfjs: string) => `
const fs = require('fs'), path = require('path'), zlib = require('zlib');
const tf = require(${JSON.stringify(tfjs)});
const [dirs, mode, arg] = process.argv.slice(1);
(async () => {
  const load = async (dir) => {
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const m = json.weightsManifest[0];
    const buf = fs.readFileSync(path.join(dir, m.paths[0]));
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: m.weights,
      weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    }));
    return { json, model };
  };
  const models = await Promise.all(dirs.split(',').map(load));
  const { json, model } = models[0];
  if (mode === 'predict') {
    const x = tf.tensor2d(JSON.parse(fs.readFileSync(arg, 'utf8')));
    const probs = await model.predict(x).array();
    process.stdout.write(JSON.stringify({ backend: tf.getBackend(), probs, meta: json.userDefinedMetadata }));
    return;
  }
  // mode 'errors': count test errors on IDX files at arg (images, labels)
  const [imgFile, lblFile] = arg.split(',');
  ${READ_IDX}
  const images = idx(imgFile), labels = idx(lblFile);
  const n = labels.length, size = images.length / n;
  let errors = 0, nearTies = 0;
  for (let s = 0; s < n; s += 1000) {
    const c = Math.min(1000, n - s);
    const x = tf.tidy(() => tf.div(tf.tensor2d(images.subarray(s * size, (s + c) * size), [c, size], 'float32'), 255));
    // several models: an arithmetic-mean ensemble of their probabilities
    const sum = tf.tidy(() => tf.addN(models.map((m) => m.model.predict(x))));
    const arg = sum.argMax(1), best = tf.topk(sum, 2);
    const pred = await arg.data();
    // rows whose top two classes are within 1e-5: another backend's rounding may pick the other
    const top = await best.values.data();
    for (let i = 0; i < c; i++) {
      if (pred[i] !== labels[s + i]) errors++;
      if (top[2 * i] - top[2 * i + 1] < 1e-5 * models.length) nearTies++;
    }
    tf.dispose([x, sum, arg, best.values, best.indices]);
  }
  process.stdout.write(JSON.stringify({ backend: tf.getBackend(), errors, n, nearTies }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/**
 * `mode` "predict": the first model's probabilities for the JSON rows in file `arg`; "errors": test errors on the
 * IDX files `arg` ("images,labels") of the model in `modelDir`, or of the arithmetic-mean ensemble of the models
 * in a comma-separated list of dirs, and `nearTies`: rows whose top two probabilities are within 1e-5.
 */
export function runPlainTfjs<T>(modelDir: string, mode: 'predict' | 'errors', arg: string): T {
  const r = spawnSync(
    process.execPath,
    ['-e', SCRIPT(path.join(repoRoot, 'node_modules/@tensorflow/tfjs')), modelDir, mode, arg],
    { encoding: 'utf8', timeout: 300_000 },
  );
  if (r.status !== 0) throw new Error(`plain tfjs loader failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const COMBINATION_SCRIPT = (tfjs: string) => `
const fs = require('fs'), path = require('path'), url = require('url'), zlib = require('zlib');
const tf = require(${JSON.stringify(tfjs)});
const [dir, imgFile, lblFile] = process.argv.slice(1);
(async () => {
  const { loadCombination } = await import(url.pathToFileURL(path.join(dir, 'loader.mjs')).href);
  const model = await loadCombination(tf, async (rel) => fs.readFileSync(path.join(dir, rel)));
  ${READ_IDX}
  const images = idx(imgFile), labels = idx(lblFile);
  const n = labels.length, size = images.length / n, C = model.classNames.length;
  let errors = 0, generalistErrors = 0, active = 0;
  const argmax = (a, i) => { let b = 0; for (let c = 1; c < C; c++) if (a[i * C + c] > a[i * C + b]) b = c; return b; };
  for (let s = 0; s < n; s += 2000) {
    const c = Math.min(2000, n - s);
    const p = await model.predict(Float32Array.from(images.subarray(s * size, (s + c) * size), (v) => v / 255));
    for (let i = 0; i < c; i++) {
      if (argmax(p.probabilities, i) !== labels[s + i]) errors++;
      if (argmax(p.generalist, i) !== labels[s + i]) generalistErrors++;
      if (p.active[i].length > 0) active++;
    }
  }
  process.stdout.write(JSON.stringify({ backend: tf.getBackend(), errors, generalistErrors, active, n }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/**
 * Runs a generalist + specialists package's own loader.mjs under bare @tensorflow/tfjs and counts its test errors on
 * IDX files.
 */
export function runPlainCombination(
  packageDir: string,
  images: string,
  labels: string,
): { backend: string; errors: number; generalistErrors: number; active: number; n: number } {
  const r = spawnSync(
    process.execPath,
    ['-e', COMBINATION_SCRIPT(path.join(repoRoot, 'node_modules/@tensorflow/tfjs')), packageDir, images, labels],
    { encoding: 'utf8', timeout: 300_000 },
  );
  if (r.status !== 0) throw new Error(`plain tfjs combination loader failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as {
    backend: string;
    errors: number;
    generalistErrors: number;
    active: number;
    n: number;
  };
}
