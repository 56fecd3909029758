/**
 * What every CLI command needs: settings from the environment (falling back to the dev stack's dev.env), a client,
 * the store.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { RuntimeEnv } from '../config/env';
import { loadEnv, repoRoot } from '../config/env';
import { MinioArtifactStore } from '../storage/minio-store';
import { temporalTls } from '../config/temporal-tls';

/** Exit codes: scripts can tell a failed run from a bad invocation. */
export const Exit = { ok: 0, runFailed: 1, usage: 2, unavailable: 3, cancelled: 4 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number = Exit.usage,
  ) {
    super(message);
  }
}

/** Variables from <data dir>/dev.env fill in whatever the environment leaves unset. */
export function cliEnv(): RuntimeEnv {
  const dataDir = process.env['CHRYSALIS_DATA_DIR'] ?? path.join(repoRoot, '.data');
  const file = path.join(dataDir, 'dev.env');
  const merged: Record<string, string | undefined> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) merged[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  Object.assign(merged, process.env);
  try {
    return loadEnv(merged);
  } catch (err) {
    throw new CliError((err as Error).message.replace(/\n\s*/g, ' '), Exit.usage);
  }
}

export interface CliContext {
  env: RuntimeEnv;
  client: Client;
  close(): Promise<void>;
  store(): Promise<MinioArtifactStore>;
}

export async function connect(env = cliEnv()): Promise<CliContext> {
  const tls = temporalTls(env);
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: env.TEMPORAL_ADDRESS,
      ...(tls ? { tls } : {}),
      connectTimeout: '5 seconds',
    });
  } catch (err) {
    throw new CliError(
      `cannot reach Temporal at ${env.TEMPORAL_ADDRESS}: ${(err as Error).message} (start it with \`chrysalis dev\`)`,
      Exit.unavailable,
    );
  }
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  return {
    env,
    client,
    close: () => connection.close(),
    store: async () => {
      const s = new MinioArtifactStore({
        endpoint: env.MINIO_ENDPOINT,
        accessKey: env.MINIO_ACCESS_KEY,
        secretKey: env.MINIO_SECRET_KEY,
        bucket: env.MINIO_BUCKET,
        region: env.MINIO_REGION,
        attempts: 2,
      });
      return s;
    },
  };
}
