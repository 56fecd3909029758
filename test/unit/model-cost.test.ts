import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { before, test } from 'node:test';
import { createComputeActivities } from '../../activities/compute';
import { layersExport, publishModel } from '../../artifacts/models';
import { architectureKey } from '../../activities/model-cost';
import { sumCosts } from '../../common/model-cost';
import type { ModelCost } from '../../common/model-cost';
import { createLogger } from '../../config';
import { buildNet, initBackend } from '../../ml';
import type { BuiltInSpec } from '../../ml/models';
import type { BackendInfo } from '../../ml/backend';
import { quantile } from '../../ml/inference-speed';
import { LocalArtifactStore } from '../../storage/local-store';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

function deps() {
  const store = new LocalArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'cost-')));
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  return { store, logger: createLogger({ name: 't', format: 'json', secrets: [], destination: quiet }), backend };
}

const CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

const MEASURE_MODELS_TEST =
  'measureModels: exact parameter counts, export bytes equal to the stored export, native and plain speeds, ' +
  'one timing per architecture';
test(MEASURE_MODELS_TEST, async () => {
  const d = deps();
  const acts = createComputeActivities(d);
  // The third is the first's architecture with other weights (another seed): timed once, for both.
  const specs = [
    { kind: 'mlp' as const, hidden: [30, 20] },
    { kind: 'cnn' as const, filters: [4], dense: 8 },
    { kind: 'mlp' as const, hidden: [30, 20] },
  ];
  // By hand: MLP 784·30+30 + 30·20+20 + 20·10+10; CNN conv 3·3·1·4+4, dense (14·14·4)·8+8, out 8·10+10.
  const mlp = 784 * 30 + 30 + 30 * 20 + 20 + 20 * 10 + 10;
  const expected = [mlp, 9 * 4 + 4 + 14 * 14 * 4 * 8 + 8 + 8 * 10 + 10, mlp];
  const models = [];
  for (const [i, spec] of specs.entries()) {
    const net = buildNet(spec, { inputShape: [28, 28], numClasses: 10, seed: i + 1 });
    models.push({ name: spec.kind, model: await publishModel(d.store, `d${i}`, net, [28, 28], {}) });
    net.dispose();
  }
  const result = await acts.measureModels({ models, classNames: CLASSES, batch1Calls: 30 });
  assert.ok(result.machine.cpu.length > 0 && result.machine.cores >= 1);
  for (const [i, { name, cost }] of result.costs.entries()) {
    assert.equal(cost.parameters, expected[i], `${name} parameters`);
    const files = await acts.exportModel({ model: models[i]!.model, classNames: CLASSES });
    const stored = (await d.store.stat(files.modelJson))!.bytes + (await d.store.stat(files.weights))!.bytes;
    assert.equal(cost.exportBytes, stored, `${name}: measured bytes are the exported files' bytes`);
    assert.equal(cost.native.backend, backend.backend);
    assert.ok(['wasm', 'cpu'].includes(cost.plain.backend), `plain tfjs ran on ${cost.plain.backend}`);
    for (const s of [cost.native, cost.plain]) {
      assert.equal(s.batch1.calls, 30);
      assert.ok(s.batch1.p50Ms > 0 && s.batch1.p50Ms <= s.batch1.p95Ms, `${name} ${s.backend} percentiles`);
      assert.ok(s.batch256.calls >= 3 && s.batch256.examplesPerSecond > 0);
    }
  }
  const [first, cnn, again] = result.costs.map((c) => c.cost);
  assert.deepEqual([again!.native, again!.plain], [first!.native, first!.plain], 'same architecture: one timing');
  assert.notDeepEqual(cnn!.native, first!.native);
});

test('architectureKey: the layers and their configuration, not the weights or the layer names', async () => {
  const d = deps();
  const key = async (spec: BuiltInSpec, seed: number) => {
    const net = buildNet(spec, { inputShape: [28, 28], numClasses: 10, seed });
    const ref = await publishModel(d.store, `k${seed}`, net, [28, 28], {});
    net.dispose();
    return architectureKey((await layersExport(d.store, ref, CLASSES)).modelJson);
  };
  const a = await key({ kind: 'mlp', hidden: [30, 20] }, 1);
  assert.equal(await key({ kind: 'mlp', hidden: [30, 20] }, 2), a);
  assert.notEqual(await key({ kind: 'mlp', hidden: [30, 21] }, 3), a);
  // Dropout is not in the export: inference does not run it, so it costs nothing there.
  assert.equal(await key({ kind: 'mlp', hidden: [30, 20], hiddenDropout: 0.5 }, 4), a);
});

test('quantile: nearest rank', () => {
  const v = Array.from({ length: 200 }, (_, i) => i + 1);
  assert.equal(quantile(v, 0.5), 100);
  assert.equal(quantile(v, 0.95), 190);
  assert.equal(quantile([7], 0.95), 7);
  assert.throws(() => quantile([], 0.5), /no values/);
});

test('sumCosts: sizes and latencies add, throughput combines harmonically, weights scale members', () => {
  const speed = (ms: number, eps: number) => ({
    backend: 'tensorflow',
    batch1: { calls: 200, p50Ms: ms, p95Ms: 2 * ms },
    batch256: { calls: 5, examplesPerSecond: eps },
  });
  const c = (p: number, ms: number, eps: number): ModelCost => ({
    parameters: p,
    exportBytes: 4 * p,
    native: speed(ms, eps),
    plain: speed(10 * ms, eps / 10),
  });
  const sum = sumCosts([c(100, 1, 1000), c(300, 3, 1000)]);
  assert.equal(sum.parameters, 400);
  assert.equal(sum.exportBytes, 1600);
  assert.equal(sum.native.batch1.p50Ms, 4);
  assert.equal(sum.native.batch1.p95Ms, 8);
  assert.equal(sum.native.batch256.examplesPerSecond, 500);
  assert.equal(sum.plain.batch1.p50Ms, 40);
  const weighted = sumCosts([c(100, 1, 1000), c(300, 3, 1000)], [1, 0.5]);
  assert.equal(weighted.parameters, 250);
  assert.equal(weighted.native.batch1.p50Ms, 2.5);
});
