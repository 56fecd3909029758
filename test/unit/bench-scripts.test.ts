/**
 * The benchmark commands of docs/BENCHMARKS.md and bench/train-step/README.md, at toy sizes: the
 * flags they show are accepted and the output has the shape report.ts reads. The measurements
 * themselves need a quiet machine and are not run here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../config/env';

const run = (cmd: string, args: string[]) =>
  spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });

interface BenchOut {
  backend: string;
  results: { model: string; examples_per_s: number }[];
  loop: { model: string }[];
}

test('tfjs-bench runs with the documented flags on both backends and prints one JSON object', () => {
  for (const backend of ['tensorflow', 'wasm']) {
    const r = run(process.execPath, [
      'dist/bench/train-step/tfjs-bench.js',
      '--backend',
      backend,
      '--steps',
      '2',
      '--repeats',
      '1',
      '--warmup',
      '1',
      '--model',
      '784-800-800-10',
      '--no-sgemm',
      '--loop-examples',
      '256',
      '--loop-repeats',
      '1',
      '--no-breakdown',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BenchOut;
    assert.equal(out.backend, backend);
    assert.deepEqual(
      out.results.map((m) => m.model),
      ['784-800-800-10'],
    );
    assert.ok(out.results[0]!.examples_per_s > 0);
    assert.deepEqual(
      out.loop.map((m) => m.model),
      ['784-800-800-10'],
    );
  }
  const help = run(process.execPath, ['dist/bench/train-step/tfjs-bench.js', '--help']);
  assert.match(help.stderr, /^usage: tfjs-bench\.js/);
});

test('the shell, Python and .mjs benchmark scripts parse', () => {
  for (const script of ['bench/train-step/run.sh', 'bench/train-step/isa-emulation.sh', 'infra/setup/bench-python.sh'])
    assert.equal(run('bash', ['-n', script]).status, 0, script);
  assert.equal(run(process.execPath, ['--check', 'bench/results/summarize.mjs']).status, 0);
  const py = run('python3', [
    '-c',
    'import ast, sys; ast.parse(open(sys.argv[1]).read())',
    path.join('bench/train-step/pytorch_bench.py'),
  ]);
  assert.equal(py.status, 0, py.stderr);
});

test('bench/inference runs with the documented flags and writes the JSON it prints a table of', () => {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-inference-')), 'r.json');
  const r = run(process.execPath, ['dist/bench/inference/run.js', '--only', 'mlp-2x30', '--calls', '10', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Machine: .+, \d+ cores, /);
  assert.match(r.stdout, /\| mlp-2x30 \(tiny student\) \| 24,790 \|/);
  const json = JSON.parse(readFileSync(out, 'utf8')) as { costs: { name: string; cost: { parameters: number } }[] };
  assert.deepEqual(
    json.costs.map((c) => [c.name, c.cost.parameters]),
    [['mlp-2x30 (tiny student)', 784 * 30 + 30 + 30 * 30 + 30 + 30 * 10 + 10]],
  );
});

test('soft-targets bench runs at toy size and prints one accuracy row per format and the rest-rule table', () => {
  const r = run(process.execPath, [
    'dist/bench/soft-targets/run.js',
    '--datasets',
    'mnist',
    '--seeds',
    '1',
    '--teacher-examples',
    '600',
    '--transfer',
    '200',
    '--teacher-epochs',
    '1',
    '--student-epochs',
    '1',
    '--temperatures',
    '4',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Machine: .+, \d+ cores, /);
  for (const format of ['hard labels only', 'full float32', 'full float16', 'top-3 float16', 'top-1 float32'])
    assert.match(r.stdout, new RegExp(`^\\| ${format} \\| `, 'm'));
  assert.match(r.stdout, /^\| full float32 \| 80\.\d \| 4 \| /m, 'two teachers × 10 classes × 4 bytes');
  assert.match(r.stdout, /^\| 3 \| 20 \| [\d.e+-]+ \| [\d.e+-]+ \| [\d.e+-]+ \|$/m);
});

test('views bench runs at toy size: one row per arm and seed, and the JSON it documents', () => {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'chrysalis-views-bench-')), 'r.json');
  const args = ['--budget', '0.5', '--seeds', '1', '--views', '2', '--examples', '300', '--out', out];
  const r = run(process.execPath, ['dist/bench/views/run.js', ...args]);
  assert.equal(r.status, 0, r.stderr);
  for (const arm of ['stored', 'views 2', 'online'])
    assert.match(r.stdout, new RegExp(`^${arm} seed 1: \\d+ errors`, 'm'));
  const doc = JSON.parse(readFileSync(out, 'utf8')) as { results: { arm: string; seconds: number }[]; machine: string };
  assert.deepEqual(
    doc.results.map((x) => x.arm),
    ['stored', 'views 2', 'online'],
  );
  assert.match(doc.machine, /\d+ cores/);
});
