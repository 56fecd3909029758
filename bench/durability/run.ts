/**
 * bench/durability: (1) the wall-time cost of one `kill -9` of the compute worker mid-training, against
 * the goal "≤ one checkpoint interval + the heartbeat timeout"; (2) the speed-up of a run's parallel
 * fan-out (teachers) with 1 vs 2 compute workers.
 *
 *   npx tsc -p . && node dist/bench/durability/run.js [--out file.json]
 *
 * Own Temporal + MinIO on ports 57233…, fresh data dir, checkpoints every epoch, heartbeat timeout 10 s.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startDevStack } from '../../infra/dev-stack';
import type { DistillationSummary, SmokeSummary } from '../../workflows';
import { progressQuery } from '../../workflows/progress';
import { DEFAULT_PIPELINE_QUEUE } from '../../common/queues';

const HEARTBEAT_S = 10;
const smoke = (seed: number, epochs: number) => ({
  preset: 'smoke',
  overrides: {
    seed,
    data: { dataset: 'mnist', validationSize: 5000, trainLimit: 30000 },
    model: { kind: 'mlp', hidden: [512, 512] },
    train: { epochs, batchSize: 128 },
  },
  options: { heartbeatTimeoutSeconds: HEARTBEAT_S },
});

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-durability-'));
  const stack = await startDevStack({
    dataDir,
    ports: { temporal: 57233, temporalUi: 58233, minio: 59000, minioConsole: 59001 },
    services: ['temporal', 'minio', 'pipeline-worker'],
  });
  const env = { CHRYSALIS_CHECKPOINT_MIN_SECONDS: '0' };
  await stack.start('compute-worker', env, 'compute-a');
  const connection = await Connection.connect({ address: stack.env['TEMPORAL_ADDRESS']! });
  const client = new Client({ connection });
  const result: Record<string, unknown> = {
    bench: 'durability',
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    heartbeatTimeoutSeconds: HEARTBEAT_S,
  };
  try {
    const epochs = 10;
    const run = async (seed: number, kill: boolean) => {
      const t0 = Date.now();
      const h = await client.workflow.start('smokePipeline', {
        taskQueue: DEFAULT_PIPELINE_QUEUE,
        workflowId: `dur-${seed}-${Date.now()}`,
        args: [smoke(seed, epochs)],
      });
      let epochSeconds = 0;
      if (kill) {
        for (;;) {
          const p = await h.query(progressQuery).catch(() => undefined);
          const m = p?.models[0];
          if (m && m.epoch >= 5) {
            epochSeconds = (m.etaSeconds ?? 0) / (m.epochs - m.epoch);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        // Kill just after a checkpoint would be the best case; we kill mid-epoch, a typical case.
        await new Promise((r) => setTimeout(r, (epochSeconds * 1000) / 2));
        await stack.stop('compute-a', 'SIGKILL');
        await stack.start('compute-worker', env, 'compute-b');
      }
      const s = (await h.result()) as SmokeSummary;
      return { wallSeconds: (Date.now() - t0) / 1000, resumedFromEpoch: s.resumedFromEpoch, epochSeconds };
    };
    const clean = await run(101, false);
    const killed = await run(202, true);
    const cost = killed.wallSeconds - clean.wallSeconds;
    result['kill9'] = {
      epochs,
      clean,
      killed,
      costSeconds: cost,
      goalSeconds: killed.epochSeconds + HEARTBEAT_S,
      metGoal: cost <= killed.epochSeconds + HEARTBEAT_S,
    };

    // Parallel fan-out: two teachers, one compute worker (1 slot) vs two.
    const distill = (seed: number) => ({
      preset: 'mnist-quick',
      overrides: { seed, teachers: { count: 2, train: { epochs: 2 } }, student: { train: { epochs: 1 } } },
    });
    const teacherStage = async (seed: number) => {
      const h = await client.workflow.start('distillationPipeline', {
        taskQueue: DEFAULT_PIPELINE_QUEUE,
        workflowId: `par-${seed}-${Date.now()}`,
        args: [distill(seed)],
      });
      (await h.result()) as DistillationSummary;
      const p = await h.query(progressQuery);
      const st = p.stages.find((x) => x.name === 'teachers')!;
      return (Date.parse(st.finishedAt!) - Date.parse(st.startedAt!)) / 1000;
    };
    const one = await teacherStage(301);
    await stack.start('compute-worker', env, 'compute-c');
    const two = await teacherStage(302);
    result['parallel'] = { teachers: 2, oneWorkerSeconds: one, twoWorkersSeconds: two, speedup: one / two };
  } finally {
    await connection.close();
    await stack.stopAll();
  }
  result['loadavg'] = os.loadavg();
  const out = process.argv.indexOf('--out');
  if (out > 0 && process.argv[out + 1]) writeFileSync(process.argv[out + 1]!, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`durability bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
