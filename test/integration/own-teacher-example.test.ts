/**
 * The worked example of docs/RESULTS.md at CI size, run as a user runs it: `bash examples/own-teacher/run.sh
 * --small` makes a folder of 32×32 RGB images, trains a Keras CNN on it in Python TensorFlow 2.18, saves it
 * as a SavedModel, and distils it through `./chrysalis run distill --config` (a CNN student) and `temporal
 * workflow start` (an MLP student). Then the export and `predict` work on it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../config/env';
import { pythonTf } from '../helpers/python-tf';
import { userDataDir, withStack } from '../helpers/stack';

test('the own-teacher example: a Keras SavedModel on an RGB image folder, distilled two ways', async (t) => {
  const py = pythonTf();
  if (!py.path) return t.skip(`NOTE: no Python TensorFlow 2.18 venv (infra/setup/python-tf.sh): ${py.why}`);
  const s = await withStack(t, 'own-teacher');
  const work = userDataDir('own-teacher');
  const r = spawnSync('bash', [path.join(repoRoot, 'examples/own-teacher/run.sh'), '--small'], {
    env: { ...s.cliEnv, CHRYSALIS_EXAMPLE_DIR: work, CHRYSALIS_PY_TF: py.path },
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  assert.equal(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  // The CLI run's table, then the Temporal CLI run's report: both students beat chance on 10 classes.
  const rows = [
    ...r.stdout.matchAll(/^\| (student-T4-a0\.7|baseline-hard) \| (student|baseline) \| (\d+) \| ([\d.]+)% \|/gm),
  ];
  assert.equal(rows.length, 2, r.stdout.slice(-3000));
  for (const m of rows) assert.ok(Number(m[4]) > 25, `${m[1]}: ${m[4]}% on 10 classes`);
  assert.match(r.stdout, /^# chrysalis run own-teacher-mlp-\d+$/m, 'the report of the Temporal CLI run');
  assert.match(r.stdout, /^Exported \*\*(student-T4-a0\.7|baseline-hard)\*\*/m);
  const id = /^run (\S+): soft targets/m.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout.slice(-2000));
  // predict takes one of the PNGs (32×32 RGB) and names a class the folder has.
  const classDir = path.join(work, 'images/test', readdirSync(path.join(work, 'images/test'))[0]!);
  const png = path.join(classDir, readdirSync(classDir)[0]!);
  const predicted = s.cli('predict', '--model', id, png, '--json');
  assert.equal(predicted.code, 0, predicted.err);
  const top = (JSON.parse(predicted.out) as { results: { top: { name: string }[] }[] }).results[0]!.top[0]!.name;
  assert.ok(readdirSync(path.join(work, 'images/test')).includes(top), top);

  await t.test("the README's five lines: a preset, an image folder and a SavedModel teacher by --set", () => {
    // As in README.md, with a validation split this small folder can give (500 there).
    const images = `{"train":"${work}/images/train","inputShape":[32,32,3]}`;
    const readme = s.cli(
      'run',
      'distill',
      '--preset',
      'mnist-quick',
      '--set',
      `data={"dataset":"images","images":${images},"validationSize":100}`,
      '--set',
      `teachers={"import":[{"kind":"savedmodel","path":"${work}/teacher","outputs":"logits"}]}`,
    );
    assert.equal(readme.code, 0, readme.err.slice(-3000));
    assert.match(readme.out, /^\| student-T20-a0\.9 \| student \| \d+ \| [\d.]+% \|/m);
  });
});
