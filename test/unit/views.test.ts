/**
 * Consistent augmented views (`transfer.views: K`): the shift rule, the config boundary, and that a student trained
 * on stored view soft targets gets, for every row, exactly the input its teachers were run on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createComputeActivities } from '../../activities/compute';
import { loadModelNet, loadPlan } from '../../artifacts/models';
import { datasetFor } from '../../data/sources';
import { blockJob, boundedAll, membersOf } from '../../common/soft-target-blocks';
import { createLogger, formatIssues, resolveDistillationInput } from '../../config';
import { trainSpecSchema } from '../../config/schemas';
import { Rng, buildNet, deriveSeed, initBackend, predictLogits, train } from '../../ml';
import type { TrainData } from '../../ml';
import type { BackendInfo } from '../../ml/backend';
import { copyShifted, fillBatch, fillShiftedBatch } from '../../ml/batches';
import { decodeTensors } from '../../storage/tensor-codec';
import { rowShift, viewImages, viewIndices, viewShift } from '../../ml/views';
import { LocalArtifactStore } from '../../storage';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

const quiet = createLogger({ name: 'test', level: 'silent' });

test('view shifts: a pure function of (seed, index, v, jitter), within the bound, view 0 unshifted', () => {
  const seen = new Set<string>();
  for (let index = 0; index < 200; index++)
    for (let v = 0; v < 6; v++) {
      const s = viewShift(7, index, v, 2);
      assert.deepEqual(s, viewShift(7, index, v, 2), 'same arguments, same shift');
      if (v === 0) assert.deepEqual(s, [0, 0]);
      assert.ok(
        s.every((d) => Number.isInteger(d) && d >= -2 && d <= 2),
        `${s.join(',')} within ±2`,
      );
      seen.add(s.join(','));
    }
  assert.equal(seen.size, 25, 'every shift in [-2, 2]² occurs');
  // The rule as documented: two draws of Rng(deriveSeed(seed, "view/<index>/<v>")).
  const rng = new Rng(deriveSeed(7, 'view/42/3'));
  assert.deepEqual(viewShift(7, 42, 3, 2), [rng.int(-2, 2), rng.int(-2, 2)]);
  assert.notDeepEqual(
    Array.from({ length: 20 }, (_, i) => viewShift(7, i, 1, 2)),
    Array.from({ length: 20 }, (_, i) => viewShift(8, i, 1, 2)),
    'another seed, other views',
  );
  assert.deepEqual(viewShift(7, 42, 3, 0), [0, 0], 'jitter 0: every view is the image');
  // Rows are example-major: row i·K + v is view v of transfer example i.
  const transfer = Int32Array.from([5, 9, 2]);
  assert.deepEqual(Array.from(viewIndices(transfer, 3)), [5, 5, 5, 9, 9, 9, 2, 2, 2]);
  const shift = rowShift({ count: 3, jitter: 2, seed: 7 }, transfer);
  assert.deepEqual(shift(4), viewShift(7, 9, 1, 2));
  assert.deepEqual(shift(6), [0, 0]);
});

test('batches: fillBatch with jitter is fillShiftedBatch with the shifts its rng draws (the refactor kept it)', () => {
  const images = Uint8Array.from({ length: 10 * 36 }, (_, i) => (i * 37) % 256);
  const indices = Int32Array.from([3, 1, 4, 1, 5, 9]);
  const a = new Float32Array(6 * 36);
  fillBatch(images, [6, 6], indices, 0, 6, a, 2, new Rng(5));
  const rng = new Rng(5);
  const shifts = Array.from({ length: 6 }, () => [rng.int(-2, 2), rng.int(-2, 2)] as const);
  const b = new Float32Array(6 * 36);
  fillShiftedBatch(images, [6, 6], indices, 6, b, (i) => shifts[i]!);
  assert.deepEqual(b, a);
  // A shift by hand: (dx, dy) = (1, -1) moves pixel (x, y) to (x + 1, y - 1), zero fill.
  const one = new Float32Array(36);
  copyShifted(images, [6, 6], 3 * 36, one, 0, [1, -1], 255);
  assert.equal(one[0 * 6 + 0], 0, 'column 0 is filled');
  assert.equal(one[5 * 6 + 3], 0, 'the last row is filled');
  assert.equal(one[2 * 6 + 3], Math.fround(images[3 * 36 + 3 * 6 + 2]! / 255));
});

function issues(raw: unknown): string {
  const r = resolveDistillationInput(raw);
  assert.equal(r.ok, false, 'expected invalid input');
  return r.ok ? '' : formatIssues(r.issues);
}

const quick = (overrides: Record<string, unknown>) => ({ preset: 'mnist-quick', overrides });

test('config: transfer.views and viewJitter are checked at the boundary, each refusal naming its field', () => {
  const ok = resolveDistillationInput(quick({ transfer: { kind: 'fraction', fraction: 0.1, views: 4 } }));
  assert.ok(ok.ok);
  assert.deepEqual(ok.config.transfer, { kind: 'fraction', fraction: 0.1, views: 4 });
  const plain = resolveDistillationInput(quick({}));
  assert.ok(plain.ok);
  assert.deepEqual(plain.config.transfer, { kind: 'fraction', fraction: 0.1 }, 'no default is written in');
  assert.equal(
    issues(quick({ transfer: { kind: 'full', views: 0 } })),
    'invalid input: transfer.views: at least 1 view',
  );
  assert.equal(
    issues(quick({ transfer: { kind: 'full', views: 2.5 } })),
    'invalid input: transfer.views: a whole number of views',
  );
  assert.equal(
    issues(quick({ transfer: { kind: 'full', viewJitter: 3 } })),
    'invalid input: transfer.viewJitter: viewJitter bounds the shift of views: give it with views > 1',
  );
  assert.equal(
    issues(quick({ transfer: { kind: 'full', views: 1, viewJitter: 3 } })),
    'invalid input: transfer.viewJitter: viewJitter bounds the shift of views: give it with views > 1',
  );
  assert.equal(
    issues(
      quick({
        transfer: { kind: 'full', views: 3 },
        student: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1, jitter: 1 } },
      }),
    ),
    'invalid input: student.train.jitter: with transfer.views > 1 each row is the fixed view its soft targets ' +
      'were computed on; a jitter would shift it away from what the teachers saw: give jitter 0 ' +
      '(the views are the augmentation)',
  );
  assert.equal(
    issues(quick({ transfer: { kind: 'full', views: 3 }, students: [{ temperature: 2, alpha: 0.5, online: true }] })),
    'invalid input: students.0.online: online teachers and transfer.views are alternatives (fresh views taught on ' +
      'the fly vs fixed views with stored soft targets): drop online or set views 1',
  );
  const csv = {
    name: 'table',
    data: { dataset: 'csv', csv: { train: '/data/t.csv', label: 'y' }, validationSize: 10 },
    teachers: { count: 1, model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    transfer: { kind: 'full', views: 2 },
    student: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    students: [{ temperature: 2, alpha: 0.5 }],
  };
  assert.equal(
    issues({ config: csv }),
    'invalid input: config.transfer.views: views shift pixels; rows of a table (dataset "csv") take views 1',
  );
  const npy = {
    ...csv,
    data: { dataset: 'mnist' },
    teachers: { import: [{ kind: 'npy', path: '/data/t.npy' }] },
  };
  assert.equal(
    issues({ config: npy }),
    'invalid input: config.teachers.import.0: an .npy teacher is logits of the unshifted transfer set: ' +
      'no views of it (transfer.views 1)',
  );
});

test('student of stored views: each batch row is exactly the view its teacher saw', async () => {
  const images = Uint8Array.from({ length: 12 * 64 }, (_, i) => (i * 29 + (i >> 6) * 7) % 256);
  const transfer = Int32Array.from([0, 2, 3, 5, 7, 8, 11]);
  const spec = { count: 3, jitter: 2, seed: 13 };
  const rows = transfer.length * spec.count;
  // What the teacher is fed for row r: the view images (ml/views.ts), scaled as predictLogits scales them.
  const teacherInput = new Float32Array(rows * 64);
  const identity = Int32Array.from({ length: rows }, (_, i) => i);
  const views = viewImages(images, [8, 8], transfer, spec, { start: 0, count: rows });
  fillBatch(views, [8, 8], identity, 0, rows, teacherInput, 0, new Rng(0));
  // What the student is fed: its batches, seen through the online hook (which receives the batch tensor).
  const seen: Float32Array[] = [];
  const data: TrainData = {
    images,
    labels: new Uint8Array(12),
    side: [8, 8],
    indices: viewIndices(transfer, spec.count),
    views: { shift: rowShift(spec, transfer) },
    teacher: (x) => {
      seen.push(Float32Array.from(x.dataSync())); // a copy: the batch buffer is reused
      return tf.fill<tf.Rank.R2>([x.shape[0], 2], 0.5);
    },
  };
  const net = buildNet({ kind: 'mlp', hidden: [4] }, { inputShape: [8, 8], numClasses: 2, seed: 1 });
  const cfg = { epochs: 1, batchSize: 8, optimizer: { kind: 'sgd' as const, learningRate: 0.01 }, seed: 4 };
  await train(net, data, cfg);
  net.dispose();
  const order = new Rng(deriveSeed(cfg.seed, 'shuffle/0')).shuffle(identity.slice());
  const student = new Float32Array(rows * 64);
  seen.forEach((x, b) => student.set(x, b * 8 * 64));
  assert.equal(seen.length, Math.ceil(rows / 8), 'every row once per epoch: all n·K rows');
  let shifted = 0;
  for (let j = 0; j < rows; j++) {
    const r = order[j]!;
    const s = Array.from(student.subarray(j * 64, (j + 1) * 64));
    assert.deepEqual(s, Array.from(teacherInput.subarray(r * 64, (r + 1) * 64)), `row ${r}: the teacher's view`);
    const plain = Array.from(images.subarray(transfer[Math.floor(r / 3)]! * 64).slice(0, 64), (p) => p / 255);
    if (s.some((v, i) => v !== plain[i])) shifted++;
    else if (r % 3 !== 0) assert.deepEqual(rowShift(spec, transfer)(r), [0, 0], `row ${r} unshifted only by chance`);
  }
  assert.ok(shifted >= 10, `${shifted} of ${rows} rows were shifted views`);
});

test('activities: views 3 store n*3 soft-target rows, each the teacher on its view; views 1 is plain', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-views-'));
  const store = new LocalArtifactStore(path.join(dir, 'store'));
  const compute = createComputeActivities({ store, logger: quiet, backend, dataRoots: [dir] });
  const base = { data: { dataset: 'mnist' as const, validationSize: 100, trainLimit: 600 }, seed: 3 };
  const plain = await compute.prepareData({ ...base, transfer: { kind: 'fraction', fraction: 0.5 } });
  const one = await compute.prepareData({ ...base, transfer: { kind: 'fraction', fraction: 0.5, views: 1 } });
  assert.deepEqual(one, plain, 'views 1 is the plan without views, digest and all');
  assert.equal(plain.views, undefined);
  const data = await compute.prepareData({ ...base, transfer: { kind: 'fraction', fraction: 0.5, views: 3 } });
  const n = plain.counts.transfer;
  assert.equal(data.counts.transfer, 3 * n);
  assert.deepEqual(data.views, { count: 3, jitter: 2, seed: 3, examples: n });
  assert.equal(data.trainDigest, plain.trainDigest, 'teachers are the same');
  assert.notEqual(data.planDigest, plain.planDigest, 'students and soft targets are not');
  const jitter1 = await compute.prepareData({
    ...base,
    transfer: { kind: 'fraction', fraction: 0.5, views: 3, viewJitter: 1 },
  });
  assert.notEqual(jitter1.planDigest, data.planDigest, 'the shift bound is in the digest');

  const teacher = await compute.trainModel({
    name: 't',
    role: 'teacher',
    data,
    split: 'train',
    spec: { kind: 'mlp', hidden: [16] },
    train: trainSpecSchema.parse({ epochs: 1, batchSize: 64 }),
    seed: 4,
  });
  const req = { key: 'views', data, teachers: [teacher.model], imported: [] };
  const blockSize = 250;
  await boundedAll(Math.ceil(data.counts.transfer / blockSize), 2, (j) => {
    const job = blockJob(j, data.counts.transfer, blockSize);
    return compute.teacherLogitsBlock({ key: 'views', data, teacher: membersOf(req)[job.member]!, ...job });
  });
  const soft = await compute.assembleSoftTargets({ ...req, blockSize, inferenceSeconds: 0 });
  assert.equal(soft.n, 3 * n);
  const { logits } = decodeTensors(await store.get(soft.logits));
  assert.deepEqual(logits!.shape, [1, 3 * n, 10]);
  const single = await compute.computeSoftTargets({ key: 'views-one', data, teachers: [teacher.model] });
  assert.deepEqual(decodeTensors(await store.get(single.logits)), decodeTensors(await store.get(soft.logits)));

  // Row r against the teacher run by hand on example transfer[⌊r/3⌋] shifted by that row's view.
  const { transfer } = await loadPlan(store, data.plan);
  const net = await loadModelNet(store, teacher.model);
  const ds = await datasetFor(data, { store, dataRoots: [dir] });
  const shift = rowShift(data.views, transfer);
  const probe = [0, 1, 2, 3 * 17 + 1, 3 * n - 1];
  const byHand = new Uint8Array(probe.length * 784);
  probe.forEach((r, b) =>
    copyShifted(ds.train.images, [28, 28, 1], transfer[Math.floor(r / 3)]! * 784, byHand, b * 784, shift(r), 1),
  );
  const expected = await predictLogits(
    net,
    byHand,
    [28, 28, 1],
    Int32Array.from(probe, (_, i) => i),
  );
  probe.forEach((r, b) =>
    assert.deepEqual(
      Array.from(logits!.data.subarray(r * 10, (r + 1) * 10)),
      Array.from(expected.subarray(b * 10, (b + 1) * 10)),
      `row ${r}`,
    ),
  );
  net.dispose();

  // A student of these soft targets trains on all n·3 rows; a jitter of its own is refused, naming the field.
  const student = {
    name: 'student-T2-a0.5',
    role: 'student' as const,
    data,
    split: 'transfer' as const,
    spec: { kind: 'mlp' as const, hidden: [8] },
    train: trainSpecSchema.parse({ epochs: 1, batchSize: 128 }),
    seed: 5,
    distill: { softTargets: soft, temperature: 2, alpha: 0.5, ensemble: 'arithmetic' as const },
  };
  const trained = await compute.trainModel(student);
  assert.equal(trained.history.length, 1);
  await assert.rejects(
    compute.trainModel({ ...student, train: { ...student.train, jitter: 1 } }),
    /invalid input: student\.train\.jitter: with transfer\.views > 1 each row is the fixed view its soft targets were computed on/,
  );
});
