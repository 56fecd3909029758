import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveDistillationInput } from '../../config/resolve';
import { FASHION_MNIST_CLASS_NAMES } from '../../common/datasets';
import { cost } from '../helpers/costs';
import { emptyReport } from '../helpers/reports';
import {
  chanceWarnings,
  compressionHeadline,
  costRows,
  distillationVerdict,
  renderDistillationReport,
} from '../../reports/distillation-markdown';
import type { DistillationReport, ModelOutcome } from '../../reports/distillation-markdown';
import { formatBytes, formatMs, formatRatio, tradeoffPoints } from '../../reports/compression';
import { chartSpecs, renderCharts, renderHtml, withCharts } from '../../reports';

function model(
  name: string,
  role: ModelOutcome['role'],
  errors: number,
  extra: Partial<ModelOutcome> = {},
): ModelOutcome {
  return {
    name,
    role,
    evaluation: {
      name,
      modelDigest: `d-${name}`,
      errors,
      n: 10000,
      accuracy: 1 - errors / 10000,
      perClassErrors: Array.from({ length: 10 }, (_, c) => (c === 6 ? errors - 9 : 1)),
      validation: { errors: Math.round(errors / 2), n: 5000 },
      details: { key: `evaluations/${name}.json`, sha256: 'x', bytes: 1 },
      inferenceSeconds: 0.42,
    },
    manifestKey: `models/${name}/manifest.json`,
    ...extra,
  };
}

/** Two teachers (ensemble 100 errors), a baseline (150) and two students (140, 160); the T4 student exported. */
function fixture(): DistillationReport {
  const r = resolveDistillationInput({ preset: 'mnist-quick' });
  assert.ok(r.ok);
  return {
    workflowId: 'wf-c',
    pipeline: 'distillationPipeline',
    config: r.config,
    softTargets: { key: 'st', cacheHit: false, inferenceSeconds: 1 },
    models: [
      model('teacher-1', 'teacher', 120, { cost: cost(1_200_000, 2.25, 20000) }),
      model('teacher-2', 'teacher', 125, { cost: cost(1_200_000, 2.25, 20000) }),
      model('baseline-hard', 'baseline', 150, { cost: cost(200_000, 0.5, 50000) }),
      model('student-T4-a0.5', 'student', 140, { temperature: 4, alpha: 0.5, cost: cost(200_000, 0.5, 50000) }),
      model('student-T20-a0.9', 'student', 160, { temperature: 20, alpha: 0.9, cost: cost(200_000, 0.5, 50000) }),
    ],
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:05:00Z',
    wallSeconds: 300,
    exported: {
      model: 'student-T4-a0.5',
      modelJson: 'exports/s/model.json',
      weights: 'exports/s/weights.bin',
      chosenBy: 'fewest validation errors (70 / 5000) among the students and the baseline',
    },
    ensemble: {
      members: ['teacher-1', 'teacher-2'],
      rule: 'arithmetic',
      evaluation: { errors: 100, n: 10000, accuracy: 0.99, perClassErrors: Array.from({ length: 10 }, () => 10) },
      cost: cost(2_400_000, 4.5, 10000),
    },
    machine: {
      cpu: 'AMD EPYC 7B13',
      cores: 2,
      simd: ['avx2', 'fma'],
      node: 'v22.11.0',
      tfjs: '4.22.0',
    },
    classNames: [...FASHION_MNIST_CLASS_NAMES],
  };
}

const HEADLINE =
  'student-T4-a0.5: 12× fewer parameters, 9.0× faster at batch 1 (native), ' +
  '+0.4 points test error vs the teacher ensemble';

test('the headline compares the exported student with the teacher ensemble, near the top of Markdown and HTML', () => {
  const r = fixture();
  assert.equal(compressionHeadline(r), HEADLINE);
  const md = renderDistillationReport(r);
  const at = md.indexOf(`**${HEADLINE}**`);
  assert.ok(at > 0 && at < md.indexOf('| model |'), 'the headline comes before the results table');
  const html = renderHtml('run', md, []);
  assert.ok(html.indexOf(`<strong>${HEADLINE}</strong>`) < html.indexOf('<table>'), 'and so in the page');
});

test('the headline falls back to the summed members, then to a single teacher, and is absent without a cost', () => {
  const r = fixture();
  delete r.ensemble!.cost;
  // Members 2.25 ms each: 4.5 ms together, the same ratio as the ensemble's own cost above.
  assert.equal(compressionHeadline(r), HEADLINE);
  const single = fixture();
  delete single.ensemble;
  single.models = single.models.filter((m) => m.name !== 'teacher-2');
  assert.equal(
    compressionHeadline(single),
    'student-T4-a0.5: 6.0× fewer parameters, 4.5× faster at batch 1 (native), +0.2 points test error vs the teacher',
  );
  const slower = fixture();
  slower.models[3]!.cost = cost(4_800_000, 9, 1000);
  assert.match(compressionHeadline(slower)!, /: 2\.0× more parameters, 2\.0× slower at batch 1/);
  for (const m of single.models) delete m.cost;
  assert.equal(compressionHeadline(single), undefined);
  const md = renderDistillationReport(single);
  assert.doesNotMatch(md, /fewer parameters|## Compression/, 'an old report renders without the new sections');
});

test('the compression table: parameters, export size, native and plain-tfjs speed, the ensemble, the machine', () => {
  const md = renderDistillationReport(fixture());
  assert.match(md, /## Compression: size and speed/);
  assert.match(
    md,
    new RegExp(
      '\\| model \\| parameters \\| export size \\| tensorflow \\(native\\): batch-1 p50 \\/ p95 ms \\| ' +
        'tensorflow: batch-256 ex\\/s \\| plain tfjs \\(cpu\\): batch-1 p50 \\/ p95 ms \\|',
    ),
  );
  assert.match(
    md,
    /\| student-T4-a0\.5 \| 200,000 \| 783\.2 KiB \| 0\.50 \/ 0\.70 \| 50,000 \| 3\.00 \/ 4\.20 \| 6,250 \|/,
  );
  assert.match(md, /\| teacher ensemble \| 2,400,000 \| 9\.16 MiB \| 4\.50 \/ 6\.30 \| 10,000 \|/);
  assert.match(md, /Measured on AMD EPYC 7B13 \(2 cores; SIMD: avx2, fma\), node v22\.11\.0, tfjs 4\.22\.0\./);
});

test('numbers as the report prints them', () => {
  assert.deepEqual([512, 2048, 3 * 1024 * 1024].map(formatBytes), ['512 B', '2.0 KiB', '3.00 MiB']);
  assert.deepEqual([0.123, 12.34, 123.4].map(formatMs), ['0.12', '12.3', '123']);
  assert.deepEqual([9.04, 12.4].map(formatRatio), ['9.0×', '12×']);
});

test('the results table has the ensemble row, validation errors and each inference time', () => {
  const md = renderDistillationReport(fixture());
  assert.match(md, /\| model \| role \| T \| α \| test errors \| accuracy \| validation errors \| epochs \|/);
  assert.match(
    md,
    new RegExp(
      '\\| teacher ensemble \\| ensemble \\| {2}\\| {2}\\| 100 \\/ 10000 \\| 99\\.00% \\|' +
        '.*arithmetic mean of teacher-1, teacher-2 \\|',
    ),
  );
  assert.match(
    md,
    /\| student-T4-a0\.5 \| student \| 4 \| 0\.5 \| 140 \/ 10000 \| 98\.60% \| 70 \/ 5000 \|.*\| 0\.42 s \|/,
  );
  assert.match(md, /a student's loss is its distillation objective.*not comparable with the baseline's/);
  const old = fixture();
  delete old.ensemble;
  for (const m of old.models) delete m.evaluation.validation;
  const oldMd = renderDistillationReport(old);
  assert.doesNotMatch(oldMd, /\| teacher ensemble \||\| validation errors \|/);
});

test('the exported line says how the model was chosen; "did not help" only when the baseline won', () => {
  const r = fixture();
  const md = renderDistillationReport(r);
  assert.match(
    md,
    new RegExp(
      'Exported \\*\\*student-T4-a0\\.5\\*\\* ' +
        '\\(chosen by fewest validation errors \\(70 \\/ 5000\\) among the students and the baseline\\)',
    ),
  );
  assert.equal(distillationVerdict(r), undefined);
  assert.doesNotMatch(md, /did not help/);

  const beaten = fixture();
  beaten.models[2] = model('baseline-hard', 'baseline', 130);
  assert.equal(
    distillationVerdict(beaten),
    'Distillation did not help on this run: the hard-label baseline **baseline-hard** has fewer test errors (130) ' +
      'than every distilled student (the best, **student-T4-a0.5**, has 140).',
  );
  const chosen = fixture();
  chosen.exported!.model = 'baseline-hard';
  chosen.exported!.chosenBy = 'fewest validation errors';
  assert.equal(
    distillationVerdict(chosen),
    'Distillation did not help on this run: the hard-label baseline **baseline-hard** was chosen over every ' +
      'distilled student.',
  );
  assert.match(renderDistillationReport(chosen), /\n\nDistillation did not help on this run: /);
});

test('per-class tables name the classes, and keep ids when the report has no names', () => {
  const r = fixture();
  const md = renderDistillationReport(r);
  assert.match(md, /\| model \| T-shirt\/top \| Trouser \| Pullover \|.*\| Ankle boot \|/);
  assert.match(md, /\| teacher ensemble \| 10 \| 10 \|/);
  delete r.classNames;
  assert.match(renderDistillationReport(r), /\| model \| 0 \| 1 \| 2 \| 3 \| 4 \| 5 \| 6 \| 7 \| 8 \| 9 \|/);
});

test('quantised exports: size and test errors against the float32 export', () => {
  const r = fixture();
  r.exported!.quantized = [
    {
      quantize: 'float16',
      modelJson: 'exports/s/f16/model.json',
      weights: 'w',
      exportBytes: 402000,
      errors: 140,
      n: 10000,
    },
    {
      quantize: 'uint8',
      modelJson: 'exports/s/u8/model.json',
      weights: 'w',
      exportBytes: 202000,
      errors: 143,
      n: 10000,
    },
  ];
  const md = renderDistillationReport(r);
  assert.match(md, /### Quantised exports/);
  assert.match(md, /\| float32 \| 783\.2 KiB \| 140 \/ 10000 \| {2}\|/);
  assert.match(md, /\| float16 \| 392\.6 KiB \| 140 \/ 10000 \| 0 \|/);
  assert.match(md, /\| uint8 \| 197\.3 KiB \| 143 \/ 10000 \| \+3 \|/);
  assert.doesNotMatch(renderDistillationReport(fixture()), /Quantised/);
});

test('the stored Markdown has one Charts heading, and none without charts', () => {
  const md = renderDistillationReport(fixture());
  const full = withCharts(md, [{ name: 'error-vs-latency', title: 'Test error against latency' }]);
  assert.equal(full.match(/^## Charts$/gm)?.length, 1);
  assert.match(full, /## Charts\n\n!\[Test error against latency\]\(charts\/error-vs-latency\.png\)/);
  assert.equal(withCharts(md, []), md);
});

const CHART_TEST =
  'the error-vs-latency chart has one labelled point per model and the ensemble, on a log latency axis';
test(CHART_TEST, async () => {
  const r = fixture();
  const points = tradeoffPoints(costRows(r));
  assert.deepEqual(
    points.map((p) => [p.model, p.role, p.errorRate, p.p50Ms]),
    [
      ['teacher-1', 'teacher', 0.012, 2.25],
      ['teacher-2', 'teacher', 0.0125, 2.25],
      ['baseline-hard', 'baseline', 0.015, 0.5],
      ['student-T4-a0.5', 'student', 0.014, 0.5],
      ['student-T20-a0.9', 'student', 0.016, 0.5],
      ['teacher ensemble', 'ensemble', 0.01, 4.5],
    ],
  );
  const [chart] = chartSpecs({ title: 't', tradeoff: points });
  assert.equal(chart?.name, 'error-vs-latency');
  const spec = chart.spec as unknown as {
    data: { values: unknown[] };
    layer: { mark: { type: string }; encoding: { x: { scale?: { type: string } } } }[];
  };
  assert.equal(spec.data.values.length, r.models.length + 1);
  assert.equal(spec.layer[0]!.encoding.x.scale?.type, 'log');
  assert.equal(spec.layer[1]!.mark.type, 'text');
  const [rendered] = await renderCharts({ title: 't', tradeoff: points });
  for (const p of points) assert.ok(rendered!.svg.includes(`>${p.model}</text>`), `${p.model} labelled`);
  assert.deepEqual(tradeoffPoints(costRows({ ...r, models: r.models.map(({ cost: _, ...m }) => m) })), [
    { model: 'teacher ensemble', role: 'ensemble', errorRate: 0.01, p50Ms: 4.5 },
  ]);
});

test('imported teachers are named in the report, with what T acts on; a URL query stays out', () => {
  const r = resolveDistillationInput({
    preset: 'mnist-quick',
    overrides: {
      teachers: {
        import: [
          { kind: 'savedmodel', path: '/data/keras', outputs: 'probabilities' },
          { kind: 'npy', path: 'https://example.com/logits.npy?token=s3cr3t' },
        ],
      },
    },
  });
  assert.ok(r.ok, JSON.stringify(r));
  const md = renderDistillationReport(emptyReport(r.config));
  assert.match(
    md,
    new RegExp(
      '^Teacher 1: imported savedmodel `\\/data\\/keras`; ' +
        'gives probabilities: its soft targets are their log, so T acts on log-probabilities',
      'm',
    ),
  );
  assert.match(md, /^Teacher 2: imported npy `https:\/\/example\.com\/logits\.npy`; gives logits, used as logits;/m);
  assert.doesNotMatch(md, /s3cr3t/);
});

const IMPORTED_SCORED_TEST =
  'imported teachers: test errors in the table and the ensemble row; an .npy says it is not scored; not measured';
test(IMPORTED_SCORED_TEST, () => {
  const r = resolveDistillationInput({
    preset: 'mnist-quick',
    overrides: {
      teachers: {
        import: [
          { kind: 'savedmodel', path: '/data/keras', outputs: 'logits' },
          { kind: 'tfjs', path: 'minio:t/model.json', outputs: 'probabilities' },
          { kind: 'npy', path: '/data/logits.npy' },
        ],
      },
    },
  });
  assert.ok(r.ok, JSON.stringify(r));
  const imported = (i: number, kind: 'savedmodel' | 'tfjs') => ({
    imported: { kind, sha256: `${i}`.repeat(64), field: `teachers.import.${i}` },
    manifestKey: `imports/${`${i}`.repeat(64)}/import.json`,
  });
  const models = [
    model('teacher-1 (savedmodel 00000000)', 'teacher', 300, imported(0, 'savedmodel')),
    model('teacher-2 (tfjs 11111111)', 'teacher', 9000, imported(1, 'tfjs')),
    model('student-T4-a0.5', 'student', 400, { temperature: 4, alpha: 0.5, cost: cost(200_000, 0.5, 50000) }),
  ];
  const members = models.slice(0, 2).map((m) => m.name);
  const ensemble = { members, rule: 'arithmetic' as const, evaluation: { ...models[0]!.evaluation, errors: 280 } };
  const notEvaluated = [
    { name: 'teacher-3 (npy 22222222)', field: 'teachers.import.2', reason: 'precomputed logits (.npy): no model' },
  ];
  const exported = { model: 'student-T4-a0.5', modelJson: 'm', weights: 'w' };
  const report = emptyReport(r.config, { models, ensemble, notEvaluated, exported });
  const md = renderDistillationReport(report);
  assert.match(
    md,
    /^Teacher 1: imported savedmodel .*; scored on the test set as \*\*teacher-1 \(savedmodel 0{8}\)\*\*\.$/m,
  );
  assert.match(md, /^Teacher 2: imported tfjs .*; scored on the test set as \*\*teacher-2 \(tfjs 1{8}\)\*\*\.$/m);
  assert.match(
    md,
    /^Teacher 3: imported npy .*; precomputed logits \(\.npy\): no model: not scored on the test set, nor in/m,
  );
  assert.match(
    md,
    /^\| teacher-1 \(savedmodel 0{8}\) \| teacher \|  \|  \| 300 \/ 10000 \| .* \| imported savedmodel \|$/m,
  );
  assert.match(md, /^\| teacher ensemble \| ensemble \| .* \| 280 \/ 10000 \| .*arithmetic mean of teacher-1 /m);
  assert.match(md, /Not measured \(imported\): teacher-1 \(savedmodel 0{8}\), teacher-2 \(tfjs 1{8}\)/);
  assert.equal(compressionHeadline(report), undefined, 'no teacher cost: no size or speed headline');
  // An imported teacher at chance points at its inputs, not at a learning rate it never had here.
  assert.match(md, /^> \*\*Did not learn:\*\* teacher-2 \(tfjs 1{8}\) scores 10\.0 % .*"What a teacher is fed"/m);
  // Reports written before imported teachers were scored keep their sentence.
  const old = renderDistillationReport(emptyReport(r.config));
  assert.match(old, /^Teacher 1: imported savedmodel .*; not evaluated on the test set here\.$/m);
});

test('a model at chance level is called out at the top of the report, with the field to change', () => {
  const r = resolveDistillationInput({ preset: 'mnist-quick' });
  assert.ok(r.ok);
  const at = (name: string, role: ModelOutcome['role'], accuracy: number): ModelOutcome => ({
    name,
    role,
    evaluation: {
      name,
      modelDigest: name,
      errors: Math.round((1 - accuracy) * 10000),
      n: 10000,
      accuracy,
      perClassErrors: new Array<number>(10).fill(0),
      details: { key: `evaluations/${name}.json`, sha256: '', bytes: 0 },
      inferenceSeconds: 0,
    },
    manifestKey: `models/${name}/manifest.json`,
  });
  const models = [
    at('teacher-1', 'teacher', 0.97),
    at('baseline-hard', 'baseline', 0.9),
    at('student-T4-a0.7', 'student', 0.1),
  ];
  assert.deepEqual(chanceWarnings({ models }), [
    'student-T4-a0.7 scores 10.0 % on 10 classes, about chance: its training diverged or did not start; ' +
      'try a lower learning rate (student.train.optimizer.learningRate)',
  ]);
  const md = renderDistillationReport(emptyReport(r.config, { models }));
  assert.match(md, /^> \*\*Did not learn:\*\* student-T4-a0\.7 scores 10\.0 % on 10 classes/m);
  assert.deepEqual(chanceWarnings({ models: models.slice(0, 2) }), []);
});

test('the report says how each model took its training steps, and why a model stayed eager', () => {
  const r = fixture();
  const training = (step: NonNullable<ModelOutcome['training']>['step']) => ({
    cached: false,
    resumedFromEpoch: 0,
    epochsTrained: 3,
    seconds: 10,
    backend: 'tensorflow' as const,
    backendFallback: false,
    epochs: 3,
    loopSeconds: 9,
    ...(step ? { step } : {}),
  });
  r.models[0]!.training = training({ path: 'eager', reason: 'cnn nets have no compiled step yet' });
  r.models[1]!.training = training({ path: 'eager', reason: 'cnn nets have no compiled step yet' });
  r.models[2]!.training = training({ path: 'compiled' });
  r.models[3]!.training = training({ path: 'compiled' });
  r.models[4]!.training = training(undefined);
  const md = renderDistillationReport(r);
  assert.match(
    md,
    /\nTraining step eager, op by op \(cnn nets have no compiled step yet\): teacher-1, teacher-2; compiled \(one TensorFlow call per step\): baseline-hard, student-T4-a0\.5\.\n/,
  );
  assert.doesNotMatch(renderDistillationReport(fixture()), /Training step/, 'no line when nothing was trained');
});
