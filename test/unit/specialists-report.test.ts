import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gainKept, renderSpecialistsReport, table4Rows } from '../../reports/specialists-markdown';
import type { SpecialistsReport } from '../../reports/specialists-markdown';
import { resolveSpecialistsInput, specialistsPresets } from '../../config/specialists';
import { FASHION_MNIST_CLASS_NAMES } from '../../common/datasets';
import { averageFired, combinationCostRows } from '../../reports/specialists-markdown';
import { cost } from '../helpers/costs';

const coverageRow = (specialists: number, examples: number, generalistCorrect: number, combinedCorrect: number) => ({
  specialists,
  examples,
  generalistCorrect,
  combinedCorrect,
  delta: combinedCorrect - generalistCorrect,
  relativeChange: generalistCorrect > 0 ? (combinedCorrect - generalistCorrect) / generalistCorrect : 0,
});

test('Table 4 rows: one per count below 10, then "10 or more" pooled with its relative change recomputed', () => {
  const rows = [
    coverageRow(0, 100, 50, 50),
    coverageRow(1, 80, 40, 44),
    ...Array.from({ length: 12 }, (_, k) => coverageRow(k + 2, 10, 5, 6)),
  ];
  const out = table4Rows(rows);
  assert.deepEqual(
    out.map((r) => r.label),
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10 or more'],
  );
  assert.deepEqual(out[1], { label: '1', examples: 80, delta: 4, relativeChange: 0.1 });
  // 10…13 pooled: 4 rows of 10 examples, 5 → 6 correct each.
  assert.deepEqual(out.at(-1), { label: '10 or more', examples: 40, delta: 4, relativeChange: 0.2 });
});

test('gain kept: the share of the generalist→combined error reduction a student keeps', () => {
  assert.equal(gainKept(100, 90, 95), 0.5);
  assert.equal(gainKept(100, 90, 85), 1.5);
  assert.equal(gainKept(100, 100, 95), undefined, 'no gain, nothing to keep');
});

function fixture(): SpecialistsReport {
  const r = resolveSpecialistsInput({ preset: 'fashion-specialists' });
  assert.ok(r.ok);
  const classNames = [...FASHION_MNIST_CLASS_NAMES];
  const training = {
    cached: false,
    resumedFromEpoch: 0,
    epochsTrained: 8,
    seconds: 12.5,
    backend: 'tensorflow' as const,
    backendFallback: false,
    epochs: 8,
  };
  const sampling = {
    examples: 22000,
    specialCount: 11000,
    naturalFraction: 0.2,
    trainFraction: 0.5,
    oversampling: 2.5,
    correctionFactor: 4,
  };
  return {
    workflowId: 'wf-1',
    pipeline: 'specialistsPipeline',
    config: r.config,
    dataset: 'fashion-mnist',
    classNames,
    generalist: {
      manifestKey: 'models/g/manifest.json',
      digest: 'g',
      given: false,
      training: { ...training, epochs: 15 },
    },
    clustering: {
      key: 'k1',
      cached: false,
      subsets: [[0, 6], [1], [2, 3, 4], [5, 7, 9], [8]],
      examples: 5000,
      covariance: { key: 'clusters/k1/covariance.cht', sha256: 'x', bytes: 1 },
      covarianceMatrix: classNames.map((_, i) => classNames.map((__, j) => (i === j ? 0.09 : -0.01))),
      skipped: [[1], [8]],
    },
    specialists: [
      {
        name: 'specialist-1',
        subset: [0, 6],
        manifestKey: 'models/s1/manifest.json',
        digest: 's1',
        sampling,
        training,
      },
      {
        name: 'specialist-2',
        subset: [2, 3, 4],
        manifestKey: 'models/s2/manifest.json',
        digest: 's2',
        sampling,
        training: { ...training, cached: true },
      },
    ],
    evaluation: {
      key: 'c',
      n: 10000,
      topN: 1,
      generalist: { errors: 1000, accuracy: 0.9, perClassErrors: [150, 20, 150, 80, 150, 30, 300, 50, 20, 50] },
      combined: { errors: 940, accuracy: 0.906, perClassErrors: [140, 20, 140, 75, 140, 30, 270, 50, 20, 55] },
      relativeErrorChange: -0.06,
      byCoverage: [coverageRow(0, 2000, 1950, 1950), coverageRow(1, 8000, 7050, 7110)],
      perSubset: [
        {
          name: 'specialist-1',
          subset: [0, 6],
          examples: 2000,
          generalistCorrect: 1550,
          combinedCorrect: 1590,
          specialistCorrect: 1600,
        },
      ],
      firing: [{ name: 'specialist-1', fired: 2100, firedOnSubset: 1800 }],
      iterations: 40,
      combineSeconds: 0.5,
      details: { key: 'evaluations/c/p.json', sha256: 'y', bytes: 1 },
    },
    distillBack: {
      childWorkflowId: 'wf-1-distil-back',
      softTargets: { key: 'st', cached: false, inferenceSeconds: 3 },
      report: { json: 'runs/wf-1-distil-back/report.json', markdown: 'runs/wf-1-distil-back/report.md' },
      models: [
        { name: 'baseline-hard', role: 'baseline', errors: 1010, accuracy: 0.899, manifestKey: 'm/b', cached: false },
        { name: 'student-T2-a0.9', role: 'student', errors: 960, accuracy: 0.904, manifestKey: 'm/s', cached: false },
      ],
    },
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:05:00Z',
    wallSeconds: 300,
  };
}

test('the Markdown report shows results, subsets by class name, the covariance, Table 4 and firing', () => {
  const md = renderSpecialistsReport(fixture());
  assert.match(md, /\| generalist \| 1000 \/ 10000 \| 90\.00% \| \|/);
  assert.match(md, /\| generalist \+ specialists \| 940 \/ 10000 \| 90\.60% \| -60 \(-6\.0%\) \|/);
  assert.match(md, /\*\*student-T2-a0\.9\*\* keeps 67% of the specialists' gain \(40 of 60 fewer errors/);
  assert.match(md, /Against its own recipe on hard labels \(baseline-hard, 1010 errors\) it has -50 errors\./);
  const worse = fixture();
  worse.distillBack!.models[1]!.errors = 1020;
  assert.match(
    renderSpecialistsReport(worse),
    /keeps none of the specialists' gain: 20 more errors than the generalist \(the combination had 60 fewer\)/,
  );
  assert.match(md, /\| specialist-1 \| T-shirt\/top, Shirt \| 22000 \| 20\.0% \| 2\.500 \| 4\.000 \(\+1\.386\)/);
  assert.match(md, /\| specialist-2 \| Pullover, Dress, Coat \|.*\| cached \|/);
  assert.match(md, /\| — \| Trouser \|.*no specialist/);
  assert.match(md, /\| \*\*Shirt\*\* \| -100\.0 \|/);
  assert.match(md, /\| 1 \| 8000 \| \+60 \| \+0\.9% \|/);
  assert.match(md, /\| specialist-1 \| 2100 \| 21\.0% \| 85\.7% \|/);
  assert.doesNotMatch(md, /WARNING/);
});

const COMPRESSION_TEST =
  'compression: each model, the combination per example (generalist + average fired) and the shipped package';
test(COMPRESSION_TEST, () => {
  const r = fixture();
  assert.equal(averageFired(r), 0.21, 'from the firing counts when the report has no figure');
  assert.doesNotMatch(renderSpecialistsReport(r), /Compression|× (fewer|more) parameters/, 'older reports');
  r.generalist.cost = cost(1_000_000, 2, 10000);
  r.specialists[0]!.cost = cost(900_000, 1.5, 10000);
  r.specialists[1]!.cost = cost(1_100_000, 2.5, 5000);
  r.averageSpecialistsFired = 0.5;
  r.distillBack!.models[1]!.cost = cost(100_000, 0.25, 40000);
  r.machine = { cpu: 'Xeon', cores: 4, simd: [], node: 'v22', tfjs: '4.22.0' };
  // Per example: the generalist plus half a mean specialist (1 M parameters, 2 ms; times per example add: 5,714 ex/s).
  const combined = combinationCostRows(r).find((x) => x.name === 'generalist + specialists')!;
  assert.equal(combined.cost.parameters, 1_500_000);
  assert.equal(combined.cost.native.batch1.p50Ms, 3);
  assert.equal(combined.cost.native.batch256.examplesPerSecond, 1 / (1 / 10000 + 0.25 / 10000 + 0.25 / 5000));
  const md = renderSpecialistsReport(r);
  assert.match(
    md,
    new RegExp(
      '\\*\\*generalist \\+ specialists: 1\\.5× more parameters, 1\\.5× slower at batch 1 \\(native\\), ' +
        '-0\\.6 points test error vs the generalist\\*\\*',
    ),
  );
  assert.match(md, /## Compression: size and speed/);
  assert.match(md, /\| specialist-2 \| 1,100,000 \| 4\.20 MiB \| 2\.50 \/ 3\.50 \| 5,000 \|/);
  assert.match(md, /\| generalist \+ specialists \| 1,500,000 \| 5\.72 MiB \| 3\.00 \/ 4\.20 \| 5,714 \|/);
  assert.match(
    md,
    /plus 0\.50 of 2 specialists firing on average.*ships all of them: 3,000,000 parameters, 11\.45 MiB\./,
  );
  assert.match(md, /Measured on Xeon \(4 cores; SIMD: none detected\), node v22, tfjs 4\.22\.0\./);
  assert.match(
    md,
    new RegExp(
      '- student-T2-a0\\.9 \\(distilled back\\): 15× fewer parameters, 12× faster at batch 1 \\(native\\), ' +
        '\\+0\\.2 points test error vs generalist \\+ specialists',
    ),
  );
});

test('every specialists preset resolves; overrides and field paths work like the distillation input', () => {
  for (const name of Object.keys(specialistsPresets)) {
    const r = resolveSpecialistsInput({ preset: name });
    assert.ok(r.ok, `${name}: ${JSON.stringify(!r.ok && r.issues)}`);
    assert.equal(r.config.name, name);
  }
  const over = resolveSpecialistsInput({
    preset: 'fashion-specialists',
    overrides: { combine: { topN: 2 }, distill: null },
  });
  assert.ok(over.ok);
  assert.equal(over.config.combine.topN, 2);
  assert.equal(over.config.distill, null, 'distil-back switched off');
  const bad = resolveSpecialistsInput({
    preset: 'union-specialists',
    overrides: { clustering: { specialists: 21 }, distill: { transfer: { kind: 'onlyClasses', classes: [20] } } },
  });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.issues.map((i) => i.path).sort(), ['clustering.specialists', 'distill.transfer.classes.0']);
  const noVal = resolveSpecialistsInput({ preset: 'mnist-specialists', overrides: { data: { validationSize: 0 } } });
  assert.ok(!noVal.ok && noVal.issues[0]!.path === 'data.validationSize');
  assert.ok(
    resolveSpecialistsInput({
      preset: 'mnist-specialists',
      overrides: { data: { validationSize: 0 }, clustering: { on: 'train' } },
    }).ok,
  );
});
