/**
 * What every chrysalis process does at start: read the environment through one schema, set up pino,
 * route the Temporal SDK's runtime/worker/workflow logs through it, and build the connections.
 */
import type { LogLevel, LogMetadata } from '@temporalio/common';
import { Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import type { RuntimeEnv } from '../config/env';
import { loadEnv, secretValues } from '../config/env';
import type { Logger } from '../config/logger';
import { createLogger } from '../config/logger';
import { MinioArtifactStore } from '../storage/minio-store';

export interface Bootstrapped {
  env: RuntimeEnv;
  logger: Logger;
}

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Reads config and creates the process logger; a bad environment exits with the variable named. */
export function bootstrap(name: string): Bootstrapped {
  const env = loadEnv();
  const logger = createLogger({
    name,
    level: env.CHRYSALIS_LOG_LEVEL,
    format: env.CHRYSALIS_LOG_FORMAT,
    secrets: secretValues(env),
  });
  return { env, logger };
}

/** Sends the SDK's own logs (core included) through pino. Call once, before creating workers. */
export function installTemporalLogging(logger: Logger, level: RuntimeEnv['CHRYSALIS_LOG_LEVEL']): void {
  const sdk = logger.child({ component: 'temporal' });
  const log = (lvl: LogLevel, message: string, meta?: LogMetadata) => sdk[PINO_LEVEL[lvl]](meta ?? {}, message);
  Runtime.install({
    logger: {
      log,
      trace: (m, x) => log('TRACE', m, x),
      debug: (m, x) => log('DEBUG', m, x),
      info: (m, x) => log('INFO', m, x),
      warn: (m, x) => log('WARN', m, x),
      error: (m, x) => log('ERROR', m, x),
    },
    telemetryOptions: {
      logging: {
        forward: {},
        filter: makeTelemetryFilterString({ core: level === 'trace' || level === 'debug' ? 'INFO' : 'WARN' }),
      },
    },
  });
}

export async function openStore(env: RuntimeEnv): Promise<MinioArtifactStore> {
  const store = new MinioArtifactStore({
    endpoint: env.MINIO_ENDPOINT,
    accessKey: env.MINIO_ACCESS_KEY,
    secretKey: env.MINIO_SECRET_KEY,
    bucket: env.MINIO_BUCKET,
    region: env.MINIO_REGION,
  });
  await store.ensureBucket();
  return store;
}

/** Standard `main().catch(…)` tail: log the failure in one line and exit non-zero. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
