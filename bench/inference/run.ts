/**
 * bench/inference: what the deployed model costs — parameters, exported bytes, batch-1 latency (p50/p95)
 * and batch-256 throughput of the paper's 2×1200 teacher, the 2×800 and 2×30 students and the presets'
 * CNN, on native TensorFlow and on plain tfjs (a process without the addon). The numbers come from the
 * same measureModels activity that fills every run report, on untrained weights (speed does not depend
 * on their values).
 *
 *   npx tsc -p . && node dist/bench/inference/run.js [--calls 200] [--out file.json] [--only mlp-2x30]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { publishModel } from '../../artifacts/models';
import { createComputeActivities } from '../../activities/compute';
import type { ModelCost } from '../../common/model-cost';
import { createLogger } from '../../config';
import type { BuiltInSpecInput } from '../../config/schemas';
import { buildNet, initBackend } from '../../ml';
import { describeMachine } from '../../ml/machine';
import { LocalArtifactStore } from '../../storage/local-store';

const MODELS: { name: string; spec: BuiltInSpecInput }[] = [
  { name: 'mlp-2x1200 (paper teacher)', spec: { kind: 'mlp', hidden: [1200, 1200] } },
  { name: 'mlp-2x800 (paper student)', spec: { kind: 'mlp', hidden: [800, 800] } },
  { name: 'mlp-2x30 (tiny student)', spec: { kind: 'mlp', hidden: [30, 30] } },
  { name: 'cnn-32-64/128 (presets)', spec: { kind: 'cnn', filters: [32, 64], dense: 128 } },
];

function row(name: string, c: ModelCost): string {
  const kib = (c.exportBytes / 1024).toFixed(0);
  const s = (x: ModelCost['native']) =>
    `${x.batch1.p50Ms.toFixed(3)} / ${x.batch1.p95Ms.toFixed(3)} | ${Math.round(x.batch256.examplesPerSecond)}`;
  return (
    `| ${name} | ${c.parameters.toLocaleString('en')} | ${kib} | ` +
    `${s(c.native)} | ${s(c.plain)} (${c.plain.backend}) |`
  );
}

async function main(): Promise<void> {
  // Compiled inference is opt-in for now (ml/compiled-step.ts COMPILED_OPT_IN): the bench times it.
  process.env['CHRYSALIS_STEP'] ??= 'compiled';
  const { values } = parseArgs({
    options: { calls: { type: 'string', default: '200' }, out: { type: 'string' }, only: { type: 'string' } },
  });
  const backend = await initBackend({ requested: 'auto' });
  const store = new LocalArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'chrysalis-inference-')));
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  const logger = createLogger({ name: 'bench', format: 'json', secrets: [], destination: quiet });
  const acts = createComputeActivities({ store, logger, backend });
  const chosen = MODELS.filter((m) => !values.only || m.name.startsWith(values.only));
  const models = [];
  for (const [i, m] of chosen.entries()) {
    const net = buildNet(m.spec, { inputShape: [28, 28], numClasses: 10, seed: i + 1 });
    models.push({ name: m.name, model: await publishModel(store, `bench-${i}`, net, [28, 28], {}) });
    net.dispose();
  }
  const classNames = Array.from({ length: 10 }, (_, c) => String(c));
  const result = await acts.measureModels({ models, classNames, batch1Calls: Number(values.calls) });
  const lines = [
    `Machine: ${describeMachine(result.machine)}; native backend ${backend.backend} ${backend.nativeVersion ?? ''}`,
    '',
    '| model | parameters | export KiB | native batch-1 p50 / p95 ms | native batch-256 ex/s | ' +
      'plain batch-1 p50 / p95 ms | plain batch-256 ex/s |',
    '|---|--:|--:|--:|--:|--:|--:|',
    ...result.costs.map((c) => row(c.name, c.cost)),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.out)
    writeFileSync(values.out, `${JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
