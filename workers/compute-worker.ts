/**
 * Compute worker: training and inference activities on one device. Run one per GPU
 * (CUDA_VISIBLE_DEVICES set per process) or one per CPU host with slots sized to its cores.
 * SIGTERM/SIGINT: stop polling, let the running epoch finish and checkpoint (grace period), exit.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { modelProgressSignal } from '../workflows/progress';
import { createComputeActivities } from '../activities/compute';
import type { ComputeDeps } from '../activities/compute-deps';
import { createSpecialistsComputeActivities } from '../activities/specialists';
import { dataRoots, modelLimits } from '../config/env';
import { initBackend } from '../ml/backend';
import { temporalTls } from '../config/temporal-tls';
import { bootstrap, installTemporalLogging, openStore, runMain } from './bootstrap';

async function main(): Promise<void> {
  const { env, logger } = bootstrap('compute-worker');
  installTemporalLogging(logger, env.CHRYSALIS_LOG_LEVEL);
  const backend = await initBackend({
    requested: env.CHRYSALIS_BACKEND,
    device: env.CHRYSALIS_DEVICE,
    gpuFallback: env.CHRYSALIS_GPU_FALLBACK,
    warn: (msg, meta) => logger.warn(meta, msg),
  });
  logger.info(
    { ...backend, cudaVisibleDevices: process.env['CUDA_VISIBLE_DEVICES'] ?? null },
    `compute backend: ${backend.backend} (${backend.package}) on ${backend.device}, ${backend.threads} threads` +
      (backend.threadChoice ? ` (${backend.threadChoice.interOp} inter-op; ${backend.threadChoice.why})` : '') +
      (backend.onednn ? `, oneDNN ${backend.onednn.on ? 'on' : 'off'} (${backend.onednn.why})` : ''),
  );
  const tls = temporalTls(env);
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS, ...(tls ? { tls } : {}) });
  // A client connection too: training activities signal their workflow with per-epoch progress.
  const clientConnection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, ...(tls ? { tls } : {}) });
  const client = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE });
  try {
    const store = await openStore(env);
    // The Worker's own SIGTERM handling stops polling and waits shutdownGraceTime; this flag makes
    // running training checkpoint at the end of its epoch and hand back well before that.
    let draining = false;
    for (const sig of ['SIGTERM', 'SIGINT'] as const)
      process.once(sig, () => {
        draining = true;
        logger.warn({ signal: sig }, 'shutdown requested: draining');
      });
    const deps: ComputeDeps = {
      draining: () => draining,
      store,
      logger,
      backend,
      limits: modelLimits(env),
      dataRoots: dataRoots(env),
      checkpointEvery: env.CHRYSALIS_CHECKPOINT_EVERY,
      checkpointMinSeconds: env.CHRYSALIS_CHECKPOINT_MIN_SECONDS,
      reportProgress: async (wf, update) =>
        client.workflow.getHandle(wf.workflowId, wf.runId).signal(modelProgressSignal, update),
    };
    const worker = await Worker.create({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.CHRYSALIS_COMPUTE_QUEUE,
      activities: { ...createComputeActivities(deps), ...createSpecialistsComputeActivities(deps) },
      maxConcurrentActivityTaskExecutions: env.CHRYSALIS_COMPUTE_SLOTS,
      shutdownGraceTime: '2 minutes',
    });
    logger.info(
      { taskQueue: env.CHRYSALIS_COMPUTE_QUEUE, slots: env.CHRYSALIS_COMPUTE_SLOTS, dataRoots: deps.dataRoots },
      'compute worker started',
    );
    await worker.run();
  } finally {
    await clientConnection.close();
    await connection.close();
  }
}

runMain('compute-worker', main);
