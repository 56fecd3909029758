import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createPipelineActivities } from '../../activities/pipeline';
import type { ModelCost } from '../../common/model-cost';
import { createLogger } from '../../config';
import { applySetters, resolveDistillationInput, resolveSearchInput } from '../../config/resolve';
import { searchPresets } from '../../config/presets';
import {
  chooseStudent,
  dominates,
  paretoFront,
  rungEpochs,
  scheduleProblem,
  searchCandidates,
  survivorCount,
  survivors,
} from '../../common/search-plan';
import type { FrontPoint } from '../../common/search-plan';
import { renderSearchCharts, searchChartInputs } from '../../reports/search-charts';
import { renderSearchReport } from '../../reports/search-markdown';
import type { SearchReport } from '../../reports/search-markdown';
import { LocalArtifactStore } from '../../storage';
import { pngInfo, pngIsBlank } from '../helpers/png';

/** The issues of `search-tiny` with these overrides, as "path: message" lines. */
function issues(overrides: Record<string, unknown>): string[] {
  const r = resolveSearchInput({ preset: 'search-tiny', overrides });
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

test('search presets parse, name their candidates, and have a schedule that runs', () => {
  for (const [name, preset] of Object.entries(searchPresets)) {
    const r = resolveSearchInput({ preset: name });
    assert.ok(r.ok, `${name}: ${JSON.stringify(r.ok ? '' : r.issues)}`);
    assert.equal(r.config.name, name);
    assert.equal(preset.name, name);
  }
  const full = resolveSearchInput({ preset: 'mnist-search' });
  assert.ok(full.ok);
  const c = searchCandidates(full.config.space);
  assert.equal(c.length, 20);
  assert.equal(new Set(c.map((x) => x.name)).size, 20, 'candidate names are unique');
  assert.deepEqual(
    rungEpochs(full.config.train.epochs, full.config.halving.rungs, full.config.halving.eta),
    [2, 6, 18],
  );
  assert.deepEqual(full.config.budget, { maxExtraErrors: 30 });
  // mnist-quick's teacher recipe on the same training split: a search after a quick run trains no teacher.
  const quick = resolveDistillationInput({ preset: 'mnist-quick' });
  assert.ok(quick.ok);
  assert.deepEqual(full.config.teachers, quick.config.teachers);
  assert.deepEqual(full.config.data, quick.config.data);
  assert.equal(full.config.seed, quick.config.seed);
  const tiny = resolveSearchInput({ preset: 'search-tiny' });
  assert.ok(tiny.ok);
  assert.equal(searchCandidates(tiny.config.space).length, 6);
});

test('bad budgets fail at once, each naming the budget field', () => {
  assert.deepEqual(issues({ budget: { maxExtraErrors: -1 } }), [
    'budget.maxExtraErrors: must be ≥ 0 (errors more than the teachers) (budget given by "maxExtraErrors")',
  ]);
  const both = issues({ budget: { maxExtraErrors: 3, maxLatencyMs: 2 } });
  assert.equal(both.length, 1);
  assert.match(
    both[0]!,
    /^budget: give exactly one of "maxExtraErrors", "maxLatencyMs" \(got maxExtraErrors and maxLatencyMs\)/,
  );
  assert.deepEqual(issues({ budget: { maxLatencyMs: 0 } }), [
    'budget.maxLatencyMs: must be > 0 ms (budget given by "maxLatencyMs")',
  ]);
  assert.match(issues({ budget: { maxLatencyMs: -5 } }).join(), /^budget\.maxLatencyMs: must be > 0 ms/);
  assert.match(issues({ budget: { maxLatencyMs: 0.0001 } }).join(), /^budget\.maxLatencyMs: below 0\.001 ms/);
  assert.match(issues({ budget: { maxExtraErrors: 2.5 } }).join(), /^budget\.maxExtraErrors: a whole number/);
  // An unknown key beside the preset's budget is refused, not ignored.
  assert.deepEqual(issues({ budget: { maxErrors: 2 } }), ['budget.maxErrors: unknown key (not allowed here)']);
  // An error budget is relative to teachers' predictions on validation, which stored soft targets lack.
  assert.match(
    issues({ teachers: { softTargets: { key: 'abc' } } }).join(),
    /^budget\.maxExtraErrors: an error budget is relative to the teacher ensemble/,
  );
  assert.deepEqual(issues({ teachers: { softTargets: { key: 'abc' } }, budget: { maxLatencyMs: 1 } }), []);
});

test('a --set of the other budget kind replaces the preset budget instead of merging into both', () => {
  const r = resolveSearchInput({ preset: 'search-tiny', overrides: applySetters({}, ['budget.maxLatencyMs=2']) });
  assert.ok(r.ok, JSON.stringify(r.ok ? '' : r.issues));
  assert.deepEqual(r.config.budget, { maxLatencyMs: 2 });
});

test('space and schedule problems name their fields', () => {
  assert.match(issues({ halving: { rungs: 5 } }).join(), /^halving\.rungs: 5 rungs at eta 2 need more than 4 epochs/);
  assert.match(
    issues({ data: { validationSize: 0 } }).join(),
    /^data\.validationSize: the search decides on the validation/,
  );
  const bare = resolveSearchInput({ config: { ...searchPresets['search-tiny'], space: { temperatures: [2] } } });
  assert.deepEqual(bare.ok ? [] : bare.issues, [
    { path: 'config.space', message: 'give at least one of "models", "mlp", "cnn"' },
  ]);
  const r = resolveSearchInput({
    preset: 'search-tiny',
    overrides: { space: { mlp: { widths: [1, 2, 3, 4, 5, 6, 7, 8, 9], depths: [1, 2, 3, 4] }, temperatures: [1, 2] } },
  });
  assert.ok(!r.ok);
  assert.deepEqual(
    r.issues.map((i) => i.path),
    ['space'],
  );
  assert.match(r.issues[0]!.message, /72 candidates/);
  assert.match(
    issues({ space: { mlp: { widths: [300000] } } }).join(),
    /^space: /,
    'model size limits apply to candidates',
  );
});

test('candidates: listed models, MLP widths × depths and CNNs, deduplicated, each at every temperature', () => {
  const c = searchCandidates({
    models: [{ kind: 'mlp', hidden: [16, 16] }],
    mlp: { widths: [16, 32], depths: [1, 2] },
    cnn: { filters: [[4]], dense: [8] },
    temperatures: [2, 5],
    alpha: 0.7,
  });
  assert.deepEqual(
    c.map((x) => x.name),
    [
      'mlp-16x16-T2',
      'mlp-16x16-T5',
      'mlp-16-T2',
      'mlp-16-T5',
      'mlp-32-T2',
      'mlp-32-T5',
      'mlp-32x32-T2',
      'mlp-32x32-T5',
      'cnn-4-d8-T2',
      'cnn-4-d8-T5',
    ],
  );
  assert.ok(c.every((x) => x.alpha === 0.7));
});

test('halving schedule: rungs of 1/eta of the next, survivors the best 1/eta', () => {
  assert.deepEqual(rungEpochs(12, 3, 3), [1, 4, 12]);
  assert.deepEqual(rungEpochs(4, 3, 2), [1, 2, 4]);
  assert.deepEqual(rungEpochs(10, 1, 3), [10]);
  assert.equal(scheduleProblem(12, 3, 3), undefined);
  assert.match(scheduleProblem(2, 3, 3)!, /epochs 1, 1, 2/);
  assert.deepEqual(
    [20, 7, 3, 1].map((n) => survivorCount(n, 3)),
    [7, 3, 1, 1],
  );
  const s = (name: string, validationErrors: number, parameters: number, feasible?: boolean) => ({
    name,
    validationErrors,
    parameters,
    ...(feasible !== undefined ? { feasible } : {}),
  });
  // Ties go to the smaller model; then by name, so the choice never depends on completion order.
  assert.deepEqual(survivors([s('a', 10, 500), s('b', 9, 900), s('c', 10, 100), s('d', 30, 10)], 2), ['b', 'c']);
  assert.deepEqual(survivors([s('b', 5, 1), s('a', 5, 1), s('c', 9, 1)], 3), ['a']);
  // Candidates that already miss a latency budget go last, however accurate.
  assert.deepEqual(survivors([s('fast', 50, 10, true), s('slow', 1, 1000, false), s('mid', 40, 50, true)], 2), [
    'mid',
    'fast',
  ]);
});

const p = (name: string, validationErrors: number, latencyMs: number, parameters: number): FrontPoint => ({
  name,
  validationErrors,
  latencyMs,
  parameters,
});

test('Pareto front: exactly the undominated points, smallest first', () => {
  const pts = [
    p('tiny', 300, 0.05, 1000),
    p('small', 150, 0.08, 5000),
    p('small-worse', 160, 0.09, 5000), // dominated by small
    p('mid', 100, 0.2, 20000),
    p('mid-slow', 100, 0.5, 20000), // dominated by mid
    p('odd', 90, 0.07, 90000), // fast for its size: undominated
    p('big', 80, 0.6, 100000),
    p('big-twin', 80, 0.6, 100000), // equal to big: neither dominates
  ];
  assert.equal(dominates(pts[1]!, pts[2]!), true);
  assert.equal(dominates(pts[2]!, pts[1]!), false);
  assert.equal(dominates(pts[6]!, pts[7]!), false);
  assert.deepEqual(
    paretoFront(pts).map((x) => x.name),
    ['tiny', 'small', 'mid', 'odd', 'big', 'big-twin'],
  );
  assert.deepEqual(paretoFront([]), []);
});

test('the chosen student: smallest within an error budget, most accurate within a latency budget, or none', () => {
  const front = [
    p('tiny', 300, 0.05, 1000),
    p('small', 150, 0.08, 5000),
    p('mid', 100, 0.2, 20000),
    p('big', 80, 0.6, 100000),
  ];
  // Teachers at 90 validation errors: +60 allows ≤ 150.
  assert.equal(chooseStudent(front, { maxExtraErrors: 60 }, 90)?.name, 'small');
  assert.equal(chooseStudent(front, { maxExtraErrors: 0 }, 70), undefined);
  assert.equal(chooseStudent(front, { maxExtraErrors: 0 }, 80)?.name, 'big');
  assert.equal(chooseStudent(front, { maxExtraErrors: 500 }, undefined), undefined, 'no ensemble, no error budget');
  assert.equal(chooseStudent(front, { maxLatencyMs: 0.25 }, undefined)?.name, 'mid');
  assert.equal(chooseStudent(front, { maxLatencyMs: 0.01 }, 90), undefined);
});

const quiet = createLogger({
  name: 'test',
  format: 'json',
  level: 'warn',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

const VALIDATE_SEARCH_TEST =
  'validateSearchInput fails non-retryably with InvalidInput naming the budget, and checks given objects exist';
test(VALIDATE_SEARCH_TEST, async () => {
  const store = new LocalArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'chrysalis-search-')));
  const light = createPipelineActivities({ store, logger: quiet });
  const fails = async (raw: unknown, pattern: RegExp) => {
    const err = await light.validateSearchInput(raw).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'InvalidInput');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, pattern);
  };
  await fails(
    { preset: 'search-tiny', overrides: { budget: { maxLatencyMs: 0 } } },
    /budget\.maxLatencyMs: must be > 0 ms/,
  );
  await fails(
    { preset: 'search-tiny', overrides: { teachers: { refs: [{ manifestKey: 'models/x/manifest.json' }] } } },
    /teachers\.refs\.0\.manifestKey: not found/,
  );
  const ok = await light.validateSearchInput({ preset: 'search-tiny', options: { heartbeatTimeoutSeconds: 30 } });
  assert.deepEqual(ok.options, { heartbeatTimeoutSeconds: 30 });
  assert.equal(ok.config.halving.eta, 2);
});

const speed = (p50Ms: number) => ({
  backend: 'tensorflow',
  batch1: { calls: 200, p50Ms, p95Ms: p50Ms * 1.5 },
  batch256: { calls: 10, examplesPerSecond: 1e5 },
});
const cost = (parameters: number, p50Ms: number): ModelCost => ({
  parameters,
  exportBytes: parameters * 4 + 2000,
  native: speed(p50Ms),
  plain: { ...speed(p50Ms * 5), backend: 'cpu' },
});

function report(chosen: boolean): SearchReport {
  const tiny = resolveSearchInput({ preset: 'search-tiny' });
  assert.ok(tiny.ok);
  const cand = (name: string, parameters: number, p50: number, errors: number, epoch: number, onFront: boolean) => ({
    name,
    architecture: name,
    temperature: 2,
    alpha: 0.9,
    cost: cost(parameters, p50),
    rungs: [
      { epoch, validationErrors: errors, testErrors: errors * 2, epochsTrained: epoch, cached: false, loopSeconds: 1 },
    ],
    manifestKey: `models/${name}/manifest.json`,
    validation: { errors, n: 1000 },
    test: { errors: errors * 2, n: 10000 },
    onFront,
  });
  return {
    workflowId: 'search-unit',
    pipeline: 'studentSearchPipeline',
    config: tiny.config,
    softTargets: { key: 'k', cacheHit: true, inferenceSeconds: 0 },
    ensemble: { members: 2, rule: 'arithmetic', validation: { errors: 70, n: 1000 }, test: { errors: 700, n: 10000 } },
    budget: { maxExtraErrors: 150 },
    schedule: {
      eta: 2,
      rungs: [
        { epoch: 1, candidates: 3 },
        { epoch: 2, candidates: 2 },
        { epoch: 4, candidates: 1 },
      ],
    },
    candidates: [
      cand('mlp-8-T2', 6370, 0.04, 260, 1, true),
      cand('mlp-16-T2', 12730, 0.05, 200, 2, true),
      cand('mlp-32-T2', 25450, 0.07, 120, 4, true),
      cand('mlp-32-T4', 25450, 0.08, 130, 2, false),
    ],
    front: ['mlp-8-T2', 'mlp-16-T2', 'mlp-32-T2'],
    ...(chosen
      ? {
          chosen: {
            name: 'mlp-16-T2',
            modelJson: 'exports/d/model.json',
            weights: 'exports/d/w.bin',
            chosenBy: 'the fewest parameters within the error budget',
          },
        }
      : {}),
    verdict: chosen ? 'met' : 'no candidate met the budget',
    cost: { candidateEpochs: 9, gridEpochs: 16, loopSeconds: 9, gridSecondsEstimate: 16 },
    machine: { cpu: 'test cpu', cores: 2, simd: ['avx2'], node: 'v22', tfjs: '4' },
    backendFallback: false,
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:01:00Z',
    wallSeconds: 60,
  };
}

test('the search report: verdict, budget, front and every candidate in Markdown; the front chart renders', async () => {
  const md = renderSearchReport(report(true));
  assert.match(md, /\*\*Verdict: met\*\*/);
  assert.match(md, /≤ 150 validation errors more than the teacher ensemble \(70 \+ 150 = 220\)/);
  assert.match(md, /Chosen: `mlp-16-T2`/);
  assert.match(
    md,
    /\| mlp-16-T2 \| 12730 \| 0\.050 ms \| 0\.250 ms \| 2 \| 200 \| \+130 \| 400 \| 96\.00% \| \*\*chosen\*\* \|/,
  );
  assert.match(md, /the full grid would train 16/);
  const front = md.slice(md.indexOf('## Pareto front'), md.indexOf('## Successive halving'));
  assert.doesNotMatch(front, /mlp-32-T4/, 'a dominated candidate is not in the front table');
  assert.match(renderSearchReport(report(false)), /\*\*Verdict: no candidate met the budget\*\*/);

  const inputs = searchChartInputs(report(true));
  assert.equal(inputs.maxErrors, 220);
  assert.deepEqual(
    inputs.points.map((x) => x.status),
    ['on the front', 'chosen', 'on the front', 'dominated'],
  );
  const [chart] = await renderSearchCharts(inputs);
  assert.ok(chart);
  assert.match(chart.svg, /validation errors/);
  const { width, height } = pngInfo(chart.png);
  assert.ok(width > 400 && height > 200, `${width}×${height}`);
  assert.equal(pngIsBlank(chart.png), false);
});
