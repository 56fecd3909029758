/**
 * One pino logger per process. JSON by default, pretty when attached to a terminal.
 * Secrets are removed twice: by key (pino `redact`) and by value (every serialized line is scrubbed
 * of the configured secret strings), so a secret that slips into an error message is still caught.
 */
import pino from 'pino';
import type { Logger as PinoLogger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type Logger = PinoLogger;

export interface LoggerOptions {
  /** Logger name, shown on every line. */
  name: string;
  /** @default 'info' */
  level?: string;
  /** @default 'auto' (pretty on a TTY, JSON otherwise) */
  format?: 'auto' | 'json' | 'pretty';
  /** Exact strings to scrub from every line. */
  secrets?: readonly string[];
  /** Where lines go. @default process.stderr (stdout stays free for command output) */
  destination?: NodeJS.WritableStream;
}

const REDACT_PATHS = [
  'secretKey',
  '*.secretKey',
  'MINIO_SECRET_KEY',
  '*.MINIO_SECRET_KEY',
  'accessKey',
  '*.accessKey',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

export function createLogger(opts: LoggerOptions): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4);
  const scrub = (line: string): string => secrets.reduce((acc, s) => acc.split(s).join('[REDACTED]'), line);
  const dest = opts.destination ?? process.stderr;
  const pretty =
    opts.format === 'pretty' || ((opts.format ?? 'auto') === 'auto' && (dest as { isTTY?: boolean }).isTTY === true);
  const stream = pretty
    ? // pino-pretty as a synchronous stream keeps lines ordered with other stderr output.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('pino-pretty') as typeof PinoPretty)({
        destination: dest,
        sync: true,
        colorize: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
      })
    : dest;
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: { streamWrite: scrub },
    },
    stream as pino.DestinationStream,
  );
}
