import assert from 'node:assert/strict';
import { test } from 'node:test';
import { searchPresets } from '../../config/presets';
import { getJson } from '../../storage';
import type { SearchReport } from '../../reports/search-markdown';
import type { SearchSummary } from '../../workflows';
import { NO_CANDIDATE_MET_THE_BUDGET } from '../../workflows/search';
import { assertChartsRendered, assertInvalidInputs } from '../helpers/assertions';
import { scheduledActivities, withStack } from '../helpers/stack';

// One stack for every check (a search takes a minute or two); each check is its own named subtest.
test('student search on search-tiny: halving over partial runs, front, chosen student, reuse', async (t) => {
  const s = await withStack(t, 'search');
  const run = (id: string, overrides: Record<string, unknown> = {}) =>
    s.client.workflow.execute('studentSearchPipeline', {
      taskQueue: s.queues.pipeline,
      workflowId: id,
      args: [{ preset: 'search-tiny', overrides, options: { computeQueue: s.queues.compute } }],
    }) as Promise<SearchSummary>;

  const id1 = `search-a-${Date.now()}`;
  const first = await run(id1);
  const report = await getJson<SearchReport>(s.store, first.report.json);

  await t.test('completes with a front of at least 2 points and a chosen student within budget', async () => {
    assert.equal(first.verdict, 'met');
    assert.equal(first.candidates, 6);
    assert.ok(first.front.length >= 2, `front: ${JSON.stringify(first.front)}`);
    assert.ok(first.ensemble, 'the teacher ensemble was evaluated');
    const chosen = first.chosen;
    assert.ok(chosen, 'a student was chosen');
    assert.ok(
      chosen.validationErrors <= first.ensemble.validationErrors + 150,
      `${chosen.validationErrors} > ${first.ensemble.validationErrors} + 150`,
    );
    assert.ok(
      first.front.some((p) => p.name === chosen.name),
      'the chosen student is on the front',
    );
    // The smallest within budget: no candidate within budget has fewer parameters.
    const within = report.candidates.filter((c) => c.validation.errors <= first.ensemble!.validationErrors + 150);
    assert.equal(Math.min(...within.map((c) => c.cost.parameters)), chosen.parameters);
    assert.ok(await s.store.stat(chosen.modelJson), 'the chosen student is exported');
    assert.equal(first.exported?.modelJson, chosen.modelJson);
  });

  await t.test('successive halving: 6 → 3 → 2 candidates, each rung resuming the previous one', async () => {
    assert.deepEqual(report.schedule.rungs, [
      { epoch: 1, candidates: 6 },
      { epoch: 2, candidates: 3 },
      { epoch: 4, candidates: 2 },
    ]);
    const trains = (await scheduledActivities(s.client, id1)).filter((a) => a === 'trainModel');
    assert.equal(trains.length, 2 + 6 + 3 + 2, 'two teachers, then 11 candidate rungs');
    const finalists = report.candidates.filter((c) => c.rungs.length === 3);
    assert.equal(finalists.length, 2);
    for (const c of finalists)
      assert.deepEqual(
        c.rungs.map((r) => r.epochsTrained),
        [1, 1, 2],
        `${c.name} trained only the epochs each rung added`,
      );
    assert.equal(first.cost.candidateEpochs, 6 + 3 + 2 * 2);
    assert.equal(first.cost.gridEpochs, 6 * 4);
    // Every candidate has a measured cost, and the front is undominated.
    assert.ok(report.candidates.every((c) => c.cost.parameters > 0 && c.cost.native.batch1.p50Ms > 0));
  });

  await t.test('the report has the verdict, the front table and a rendered front chart', async () => {
    const md = new TextDecoder().decode(await s.store.get(first.report.markdown));
    assert.match(md, /\*\*Verdict: met\*\*/);
    assert.match(md, /## Pareto front/);
    await assertChartsRendered(s.store, first.report);
    assert.ok(first.report.charts.some((k) => k.endsWith('/search-front.png')));
  });

  await t.test('an unreachable budget completes with the front and "no candidate met the budget"', async () => {
    const second = await run(`search-b-${Date.now()}`, { budget: { maxLatencyMs: 0.001 } });
    assert.equal(second.verdict, NO_CANDIDATE_MET_THE_BUDGET);
    assert.equal(second.chosen, undefined);
    assert.ok(second.front.length >= 2);
    // A second run reuses the soft targets (no teacher trains) and the stored candidate models.
    assert.equal(second.softTargets.cacheHit, true);
    assert.equal(second.softTargets.key, first.softTargets.key);
    assert.equal(second.cost.candidateEpochs, 0, 'every rung was already stored');
    const md = new TextDecoder().decode(await s.store.get(second.report.markdown));
    assert.match(md, /no candidate met the budget/);
  });

  await t.test('bad budgets fail at once as InvalidInput naming the field', async () => {
    // Whole configs, so a budget replaces the preset's instead of merging into it.
    const tiny = (budget: unknown) => ({ config: { ...searchPresets['search-tiny'], budget } });
    await assertInvalidInputs(s, 'studentSearchPipeline', [
      [tiny({ maxExtraErrors: -3 }), /budget\.maxExtraErrors: must be ≥ 0/],
      [tiny({ maxExtraErrors: 3, maxLatencyMs: 2 }), /budget: give exactly one of "maxExtraErrors", "maxLatencyMs"/],
      [tiny({ maxLatencyMs: 0 }), /budget\.maxLatencyMs: must be > 0 ms/],
    ]);
  });

  await t.test('`chrysalis run search` prints the front, the chosen student and the budget verdict', () => {
    const out = s.cli('run', 'search', '--preset', 'search-tiny');
    assert.equal(out.code, 0, out.err);
    assert.match(out.out, /Pareto front \(\d+ points\):/);
    assert.match(out.out, /^budget: ≤ 150 validation errors more than the teachers \(\d+ \+ 150\) → met: /m);
    assert.match(out.err, /^workflow search-search-tiny-[0-9a-f]{8} /m);
  });
});
