/**
 * TLS for the Temporal connection, from the environment. Here rather than in workers/ because the CLI's client
 * connects with the same settings as the workers.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import type { RuntimeEnv } from './env';

export function temporalTls(env: RuntimeEnv): TLSConfig | undefined {
  if (!env.TEMPORAL_TLS && !env.TEMPORAL_TLS_CERT_PATH) return undefined;
  return {
    ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
    ...(env.TEMPORAL_TLS_CA_PATH ? { serverRootCACertificate: readFileSync(env.TEMPORAL_TLS_CA_PATH) } : {}),
    ...(env.TEMPORAL_TLS_CERT_PATH && env.TEMPORAL_TLS_KEY_PATH
      ? {
          clientCertPair: {
            crt: readFileSync(env.TEMPORAL_TLS_CERT_PATH),
            key: readFileSync(env.TEMPORAL_TLS_KEY_PATH),
          },
        }
      : {}),
  };
}
