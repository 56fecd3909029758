/** Pipeline worker: runs the workflows and the light activities (validation, cache look-ups, reports). */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createPipelineActivities } from '../activities/pipeline';
import { createSpecialistsPipelineActivities } from '../activities/specialists-pipeline';
import { modelLimits } from '../config/env';
import { warmUpCharts } from '../reports/charts';
import { temporalTls } from '../config/temporal-tls';
import { bootstrap, installTemporalLogging, openStore, runMain } from './bootstrap';

async function main(): Promise<void> {
  const { env, logger } = bootstrap('pipeline-worker');
  installTemporalLogging(logger, env.CHRYSALIS_LOG_LEVEL);
  const tls = temporalTls(env);
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS, ...(tls ? { tls } : {}) });
  try {
    const store = await openStore(env);
    const worker = await Worker.create({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.CHRYSALIS_PIPELINE_QUEUE,
      workflowsPath: require.resolve('../workflows'),
      // A programming error thrown by workflow code fails the run (with the stack in its history)
      // instead of retrying the workflow task forever; inputs are validated before any is read.
      workflowFailureErrorTypes: { '*': ['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError'] },
      activities: {
        ...createPipelineActivities({ store, logger, limits: modelLimits(env) }),
        ...createSpecialistsPipelineActivities({ store, logger, limits: modelLimits(env) }),
      },
    });
    // In the background: reports render charts, and the first would otherwise pay for loading vega.
    warmUpCharts().catch((err: unknown) =>
      logger.warn({ err }, 'chart libraries did not warm up; the first report will load them'),
    );
    logger.info(
      {
        taskQueue: env.CHRYSALIS_PIPELINE_QUEUE,
        namespace: env.TEMPORAL_NAMESPACE,
        temporal: env.TEMPORAL_ADDRESS,
        minio: env.MINIO_ENDPOINT,
        bucket: env.MINIO_BUCKET,
      },
      'pipeline worker started',
    );
    await worker.run();
  } finally {
    await connection.close();
  }
}

runMain('pipeline-worker', main);
