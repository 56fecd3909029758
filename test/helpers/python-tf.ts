/**
 * Python TensorFlow 2.18 for tests that compare chrysalis with TensorFlow itself: the venv of
 * infra/setup/python-tf.sh (built once, reused), and the SavedModel writer/predictor beside this file.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../config/env';

const root = repoRoot;
const script = path.join(root, 'test', 'helpers', 'write-savedmodel.py');

let python: { path?: string; why?: string } | undefined;

/** The venv's python, or undefined with the reason (the set-up script's own message) when it cannot be made. */
export function pythonTf(): { path?: string; why?: string } {
  if (python) return python;
  const r = spawnSync('bash', [path.join(root, 'infra', 'setup', 'python-tf.sh')], { encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').at(-1);
  python = r.status === 0 && last ? { path: last } : { why: r.stderr.trim().split('\n').slice(-4).join(' | ') };
  return python;
}

function py(args: string[]): string {
  const r = spawnSync(pythonTf().path!, [script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`write-savedmodel.py ${args[0]} failed: ${r.stderr.slice(-2000)}`);
  return r.stdout.trim().split('\n').at(-1)!;
}

/** Saves a tiny Keras teacher with model.export; returns the TensorFlow version that wrote it. */
export function saveKerasTeacher(
  dir: string,
  opts: { classes: number; probabilities?: boolean; inputShape?: number[] },
): string {
  const shape = ['--input-shape', (opts.inputShape ?? [28, 28]).join(',')];
  return py([
    'save',
    dir,
    '--classes',
    String(opts.classes),
    ...shape,
    ...(opts.probabilities ? ['--probabilities'] : []),
  ]);
}

/** The SavedModel's serving_default output on `inputs` (float32 [n, ...inputShape]), computed by Python TF. */
export function predictWithPython(model: string, inputs: Float32Array, n: number, inputShape = [28, 28]): Float32Array {
  const x = path.join(model, '..', `inputs-${process.pid}-${Date.now()}.f32`);
  const out = `${x}.out`;
  writeFileSync(x, new Uint8Array(inputs.buffer, inputs.byteOffset, inputs.byteLength));
  py(['predict', model, x, String(n), out, '--input-shape', inputShape.join(',')]);
  const bytes = readFileSync(out);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
