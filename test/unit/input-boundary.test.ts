/**
 * The validation boundary: every input that once hung a run or was silently ignored (issue table in
 * docs/OPERATIONS.md, "Bad input") is refused by the same parse the CLI and the first activity run,
 * with a message naming the field. The integration suite sends the same inputs through Temporal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../config/env';
import { ApplicationFailure } from '@temporalio/common';
import { NON_RETRYABLE } from '../../common/failure-types';
import { storeKeyProblem } from '../../common/key-rules';
import { toFailure } from '../../activities/failures';
import {
  applySetters,
  deepMerge,
  formatIssues,
  resolveDistillationInput,
  resolveSmokeInput,
} from '../../config/resolve';
import { resolveSpecialistsInput } from '../../config/specialists';
import { modelSize } from '../../config/model-size';
import { BUILTIN_DATASETS } from '../../common/datasets';
import { buildNet, paramCount } from '../../ml/models';
import { loadIdxFiles } from '../../ml/datasets';
import { userFileGuard } from '../../data/user-files';
import { rejectsInvalid } from '../helpers/assertions';
import { encodeIdx } from '../../ml/idx';
import { SplitError, makePlan, planWarnings } from '../../ml/splits';
import { restartDelayMs } from '../../infra/dev-stack';
import { renderDistillationReport } from '../../reports/distillation-markdown';
import { emptyReport } from '../helpers/reports';

function refused(
  raw: unknown,
  resolve: (raw: unknown) => ReturnType<typeof resolveDistillationInput> = resolveDistillationInput,
): string {
  const r = resolve(raw);
  assert.equal(r.ok, false, `expected ${JSON.stringify(raw)} to be refused`);
  return r.ok ? '' : formatIssues(r.issues);
}

const quick = (extra: Record<string, unknown>) => ({ preset: 'mnist-quick', ...extra });

test('a non-object input is refused at the root, not read by the workflow', () => {
  for (const raw of [null, undefined, 'mnist-quick', 7, []])
    assert.equal(
      refused(raw),
      'invalid input: (root): the input must be an object: { preset, overrides?, options? } or { config, options? }',
    );
});

test('run options are parsed strictly: durations bounded, queue names non-empty without whitespace', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { heartbeatTimeoutSeconds: -5 },
      /^invalid input: options\.heartbeatTimeoutSeconds: Too small: expected number to be >=1$/,
    ],
    [
      { heartbeatTimeoutSeconds: 'soon' },
      /^invalid input: options\.heartbeatTimeoutSeconds: Invalid input: expected number, received string$/,
    ],
    [{ heartbeatTimeoutSeconds: 1e9 }, /options\.heartbeatTimeoutSeconds: Too big/],
    [{ trainTimeoutMinutes: 0 }, /^invalid input: options\.trainTimeoutMinutes: Too small: expected number to be >=1$/],
    [
      { computeQueue: '' },
      /^invalid input: options\.computeQueue: an empty queue name would send activities to the workflow queue$/,
    ],
    [{ computeQueue: ' compute ' }, /options\.computeQueue: no whitespace in a task-queue name/],
    [{ computeQueue: 7 }, /options\.computeQueue: Invalid input: expected string, received number/],
    [{ gpu: true }, /^invalid input: options\.gpu: unknown key \(not allowed here\)$/],
  ];
  for (const [options, pattern] of cases) assert.match(refused(quick({ options })), pattern, JSON.stringify(options));
  assert.match(
    refused(quick({ options: 'fast' })),
    /^invalid input: options: Invalid input: expected object, received string$/,
  );
  const ok = resolveDistillationInput(quick({ options: { computeQueue: 'gpu-a', heartbeatTimeoutSeconds: 5 } }));
  assert.ok(ok.ok);
  assert.deepEqual(ok.options, { computeQueue: 'gpu-a', heartbeatTimeoutSeconds: 5 });
});

test('unknown keys are errors at every level, __proto__ and typos included', () => {
  assert.match(refused(quick({ dataset: { name: 'x' } })), /^invalid input: dataset: unknown key/);
  assert.match(refused(quick({ x: 1 })), /^invalid input: x: unknown key/);
  assert.match(
    refused(JSON.parse('{"preset":"mnist-quick","__proto__":{"polluted":true}}')),
    /^invalid input: __proto__: unknown key/,
  );
  assert.match(refused({ preset: 'mnist-quick', overide: {} }), /^invalid input: overide: unknown key/);
  assert.match(
    refused(quick({ overrides: { student: { train: { epoch: 3 } } } })),
    /^invalid input: student\.train\.epoch: unknown key/,
  );
  assert.match(
    refused(quick({ overrides: JSON.parse('{"__proto__":{"seed":5}}') })),
    /^invalid input: __proto__: unknown key/,
    'a __proto__ override is a plain key, not a prototype',
  );
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.match(refused(quick({ overrides: applySetters({}, ['__proto__.seed=5']) })), /__proto__: unknown key/);
});

test('models too big for the limits are refused before any allocation, with the estimate', () => {
  assert.match(
    refused(quick({ overrides: { student: { model: { hidden: [2000000000] } } } })),
    new RegExp(
      String.raw`^invalid input: student\.model: the model has 1590\.0 billion parameters ` +
        String.raw`\(28×28 inputs, 10 classes\), over the limit of 200\.0 M \(CHRYSALIS_MAX_PARAMETERS\)$`,
    ),
  );
  assert.match(
    refused(quick({ overrides: { teachers: { train: { batchSize: 65536 }, model: { hidden: [8000, 8000] } } } })),
    /^invalid input: teachers\.model: one batch of 65536 needs about [\d.]+ GiB of activations .* smaller batchSize/,
  );
  const limits = { maxParameters: 1000, maxActivationBytes: 2 ** 40 };
  const r = resolveDistillationInput(quick({}), { limits });
  assert.ok(!r.ok && r.issues.some((i) => i.path === 'teachers.model' && /over the limit of 1,000/.test(i.message)));
});

test('parameter counts from the spec equal those of the built net', () => {
  const { inputShape } = BUILTIN_DATASETS.mnist;
  for (const spec of [
    { kind: 'mlp' as const, hidden: [1200, 1200] },
    { kind: 'mlp' as const, hidden: [30] },
    { kind: 'cnn' as const, filters: [8, 16], dense: 64 },
    { kind: 'cnn' as const, filters: [4], dense: 10 },
  ]) {
    const net = buildNet(spec, { inputShape: [...inputShape], numClasses: 10, seed: 1 });
    try {
      assert.equal(modelSize(spec, { inputShape, numClasses: 10, batchSize: 1 }).parameters, paramCount(net));
    } finally {
      net.dispose();
    }
  }
});

test('an override that switches variant replaces the preset object instead of merging into it', () => {
  const refs = resolveDistillationInput(
    quick({ overrides: { teachers: { refs: [{ manifestKey: 'models/ab/manifest.json' }] } } }),
  );
  assert.ok(refs.ok, refs.ok ? '' : formatIssues(refs.issues));
  assert.deepEqual(refs.config.teachers, { refs: [{ manifestKey: 'models/ab/manifest.json' }] });
  const soft = resolveDistillationInput(quick({ overrides: { teachers: { softTargets: { key: 'abc123' } } } }));
  assert.ok(soft.ok && 'softTargets' in soft.config.teachers);
  const full = resolveDistillationInput(quick({ overrides: applySetters({}, ['transfer={"kind":"full"}']) }));
  assert.ok(full.ok && full.config.transfer.kind === 'full');
  const omit = resolveDistillationInput(quick({ overrides: { transfer: { kind: 'excludeClasses', classes: [3] } } }));
  assert.ok(omit.ok);
  assert.deepEqual(omit.config.transfer, { kind: 'excludeClasses', classes: [3] });
  const cnn = resolveDistillationInput(
    quick({ overrides: { student: { model: { kind: 'cnn', filters: [8], dense: 32 } } } }),
  );
  assert.ok(cnn.ok);
  assert.deepEqual(cnn.config.student.model, { kind: 'cnn', filters: [8], dense: 32 });
  // Same variant: objects still merge key by key, however the setters are spread.
  const setters = applySetters({}, ['teachers.count=1', 'teachers.train.epochs=1', 'teachers.model.hidden=[64]']);
  const spread = resolveDistillationInput(quick({ overrides: setters }));
  assert.ok(spread.ok && 'count' in spread.config.teachers);
  assert.equal(spread.config.teachers.count, 1);
  assert.deepEqual(spread.config.teachers.model, { ...spread.config.teachers.model, kind: 'mlp', hidden: [64] });
  assert.equal(spread.config.teachers.train.epochs, 1);
  assert.deepEqual(deepMerge({ count: 2, model: { kind: 'mlp', hidden: [8] } }, { model: { hidden: [4] } }), {
    count: 2,
    model: { kind: 'mlp', hidden: [4] },
  });
  const given = resolveSpecialistsInput({
    preset: 'specialists-tiny',
    overrides: { generalist: { ref: { manifestKey: 'models/ab/manifest.json' } } },
  });
  assert.ok(given.ok && 'ref' in given.config.generalist, given.ok ? '' : formatIssues(given.issues));
});

test('union errors name the variant that was meant and the field that is wrong', () => {
  assert.equal(
    refused(quick({ overrides: { teachers: { refs: [{ manifestKey: '' }] } } })),
    'invalid input: teachers.refs.0.manifestKey: not a valid store key: empty key (teachers given by "refs"); ' +
      'teachers.refs.0.manifestKey: expected a model manifest key, e.g. "models/<digest>/manifest.json" ' +
      '(teachers given by "refs")',
  );
  assert.match(
    refused({ config: { data: { dataset: 'mnist' }, teachers: {}, student: {}, students: [] } }),
    /config\.teachers: give exactly one of "count", "refs", "softTargets", "import" \(got keys \[\]\)/,
  );
  assert.match(
    refused(quick({ overrides: { teachers: { count: 2, refs: [] } } })),
    /teachers: give exactly one of "count", "refs", "softTargets", "import" \(got count and refs\)/,
  );
  assert.match(
    refused(quick({ overrides: { teachers: { count: 0 } } })),
    /teachers\.count: Too small.*\(teachers given by "count"\)/,
  );
});

test('class-selecting transfer rules: unknown ids, repeats and excluding every class are refused', () => {
  const all = Array.from({ length: 10 }, (_, i) => i);
  assert.equal(
    refused(quick({ overrides: { transfer: { kind: 'excludeClasses', classes: all } } })),
    'invalid input: transfer.classes: excluding all 10 classes of mnist leaves no transfer data',
  );
  assert.match(
    refused(quick({ overrides: { transfer: { kind: 'onlyClasses', classes: [3, 3] } } })),
    /transfer\.classes\.1: class 3 is listed twice/,
  );
  assert.match(
    refused(
      { preset: 'specialists-tiny', overrides: { distill: { transfer: { kind: 'excludeClasses', classes: [12] } } } },
      resolveSpecialistsInput as typeof resolveDistillationInput,
    ),
    /distill\.transfer\.classes\.0: unknown class id 12: mnist has classes 0-9/,
  );
});

test('store keys and data references from input are confined', () => {
  const idx = { trainImages: 'minio:../../secret', trainLabels: '/d/a', testImages: '/d/b', testLabels: '/d/c' };
  assert.match(
    refused(quick({ overrides: { data: { dataset: 'idx', idx } } })),
    /^invalid input: data\.idx\.trainImages: not a valid data reference: "\." or "\.\." segment in the key$/,
  );
  assert.match(
    refused(quick({ overrides: { data: { dataset: 'idx', idx: { ...idx, trainImages: '/data/../etc/passwd' } } } })),
    /data\.idx\.trainImages: not a valid data reference: "\.\." segment in the path/,
  );
  assert.match(
    refused(quick({ overrides: { teachers: { softTargets: { key: '../x' } } } })),
    /teachers\.softTargets\.key: expected a soft-target key/,
  );
  for (const [key, problem] of [
    ['', /empty key/],
    ['/models/x', /absolute key/],
    ['models//x', /empty segment/],
    ['models/x/', /empty segment/],
    ['a/./b', /"\." or "\.\." segment/],
    ['a\\b', /backslashes/],
  ] as const)
    assert.match(storeKeyProblem(key) ?? '', problem, key);
  assert.equal(storeKeyProblem('datasets/train-images.idx.gz'), undefined);
});

test('data splits: impossible ones name the field and the numbers, surprising ones are reported', () => {
  const labels = new Uint8Array(1000).map((_, i) => i % 10);
  assert.throws(
    () => makePlan(labels, { validationSize: 5000, transfer: { kind: 'full' }, seed: 1 }),
    (e: unknown) =>
      e instanceof SplitError &&
      e.message ===
        'data.validationSize: 5000 leaves no training data: the dataset has 1000 training examples ' +
          '(hold out fewer, e.g. data.validationSize=100)',
  );
  const six = new Uint8Array(6000).map((_, i) => i % 10);
  const spec = { validationSize: 5000, transfer: { kind: 'fraction' as const, fraction: 0.1 }, seed: 1 };
  const plan = makePlan(six, spec);
  assert.deepEqual(planWarnings(six.length, plan, spec), [
    'data.validationSize 5000 holds out 83% of the 6000 training examples, leaving 1000',
  ]);
  const roomy = { validationSize: 500, transfer: { kind: 'full' as const }, seed: 1 };
  assert.deepEqual(planWarnings(six.length, makePlan(six, roomy), roomy), []);
  assert.equal(resolveSmokeInput({ preset: 'smoke' }).ok, true);
});

test('errors no retry can fix are non-retryable failures; the retry policies list every such type', () => {
  const range = toFailure(new RangeError('Invalid typed array length: 6272000000000'), 'trainModel');
  assert.ok(range instanceof ApplicationFailure);
  assert.equal(range.type, 'ComputeError');
  assert.equal(range.nonRetryable, true);
  assert.match(
    range.message,
    /^trainModel: RangeError: Invalid typed array length: 6272000000000 \(a retry would fail the same way\)$/,
  );
  const shape = toFailure(
    new Error('Error in matMul: inner shapes (784) and (100) of Tensors must match'),
    'evaluateModel',
  );
  assert.ok(shape instanceof ApplicationFailure && shape.type === 'ComputeError' && shape.nonRetryable);
  const split = toFailure(new SplitError('data.validationSize', 'too big'), 'prepareData');
  assert.ok(split instanceof ApplicationFailure && split.type === 'InvalidInput' && split.nonRetryable);
  const transient = new Error('socket hang up');
  assert.equal(toFailure(transient, 'trainModel'), transient, 'unknown errors stay retryable');
  assert.deepEqual([...NON_RETRYABLE].sort(), [
    'ArtifactNotFound',
    'BackendUnavailable',
    'ComputeError',
    'DatasetUnavailable',
    'InvalidInput',
    'NonFiniteLoss',
  ]);
});

test('the dev stack restarts a dead worker with doubling back-off, capped at 30 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(restartDelayMs), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});

test('a surprising split is stated at the top of the run report', () => {
  const r = resolveDistillationInput({ preset: 'mnist-quick' });
  assert.ok(r.ok);
  const md = renderDistillationReport(
    emptyReport(r.config, {
      dataWarnings: ['data.validationSize 5000 holds out 83% of the 6000 training examples, leaving 1000'],
    }),
  );
  assert.match(md, /^# chrysalis run w\n\n> \*\*Data split:\*\* data\.validationSize 5000 holds out 83% /);
});

const IDX_COLOUR_TEST =
  'IDX images: n×H×W×C loads as channels-last colour; other ranks and mismatched test shapes are refused';
test(IDX_COLOUR_TEST, async () => {
  const files = { trainImages: 'rgb.idx', trainLabels: 'l.idx', testImages: 't.idx', testLabels: 'tl.idx' };
  const bytes: Record<string, Uint8Array> = {
    'rgb.idx': encodeIdx(
      [4, 16, 16, 3],
      Uint8Array.from({ length: 4 * 16 * 16 * 3 }, (_, i) => i % 251),
    ),
    'l.idx': encodeIdx([4], Uint8Array.from([0, 1, 2, 1])),
    't.idx': encodeIdx([2, 16, 16, 3], new Uint8Array(2 * 16 * 16 * 3)),
    'tl.idx': encodeIdx([2], new Uint8Array(2)),
    'grey.idx': encodeIdx([2, 16, 16], new Uint8Array(2 * 16 * 16)),
    'flat.idx': encodeIdx([4, 768], new Uint8Array(4 * 768)),
  };
  const read = async (ref: string) => bytes[ref]!;
  const guard = userFileGuard('IDX file');
  const ds = await loadIdxFiles(files, read, guard);
  assert.deepEqual([ds.rows, ds.cols, ds.channels, ds.shape], [16, 16, 3, [16, 16, 3]]);
  assert.equal(ds.train.images[5], 5, 'pixels stay interleaved as stored');
  await rejectsInvalid(
    loadIdxFiles({ ...files, trainImages: 'flat.idx' }, read, guard),
    new RegExp(
      String.raw`^invalid input: data\.idx\.trainImages: flat\.idx: an IDX image file of shape \[4, 768\]; ` +
        String.raw`expected \[n, rows, cols\] \(grey\) or \[n, rows, cols, channels\] \(channels last\)$`,
    ),
  );
  await rejectsInvalid(
    loadIdxFiles({ ...files, testImages: 'grey.idx' }, read, guard),
    /^invalid input: data\.idx\.testImages: grey\.idx: test images are 16×16, train images 16×16×3$/,
  );
});

test('chrysalis run names a bad input even where no stack or environment is set up', () => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(TEMPORAL_|MINIO_|CHRYSALIS_)/.test(k)),
  );
  env['CHRYSALIS_DATA_DIR'] = mkdtempSync(path.join(os.tmpdir(), 'no-stack-'));
  const r = spawnSync(path.join(repoRoot, 'chrysalis'), ['run', 'distill', '--set', 'overide=1'], {
    env,
    encoding: 'utf8',
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'chrysalis: invalid input: overide: unknown key (not allowed here)\n');
});
