/**
 * The dev stack: Temporal dev server (SQLite file, so workflow state survives a restart), MinIO with
 * a data directory, a pipeline worker and a compute worker — all on loopback. Used by `npm run dev`,
 * `chrysalis dev`, the quickstart and the integration tests (which drive faults through the handle).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../config/env';
import { MinioArtifactStore } from '../storage/minio-store';

export interface DevStackOptions {
  /** State lives here: temporal/dev.sqlite, minio/, logs/, dev.env. @default $CHRYSALIS_DATA_DIR or <repo>/.data */
  dataDir?: string;
  /** @default $CHRYSALIS_TOOLS_DIR or <repo>/.tools */
  toolsDir?: string;
  /** @default 7233 / 8233 / 9000 / 9001 (or the CHRYSALIS_DEV_* variables) */
  ports?: { temporal?: number; temporalUi?: number; minio?: number; minioConsole?: number };
  /** Which services to start now; [] gives a handle to an already running stack. @default all four */
  services?: ServiceName[];
  /** Echo child output to this process's stderr as well as to log files. @default false */
  echo?: boolean;
  /** Extra environment for the workers. */
  workerEnv?: Record<string, string>;
  /**
   * Restart a worker that exits without being asked to (crash, OOM kill, kill -9), with back-off
   * (1 s, doubling to 30 s; reset after a minute of uptime), as a deployment's supervisor would.
   * @default false
   */
  supervise?: boolean;
}

export type ServiceName = 'temporal' | 'minio' | 'pipeline-worker' | 'compute-worker';

export interface DevStack {
  /** Environment a client or worker needs to reach this stack (includes the MinIO credentials). */
  env: Record<string, string>;
  dataDir: string;
  logFile(name: string): string;
  start(name: ServiceName, extraEnv?: Record<string, string>, instance?: string): Promise<ChildProcess>;
  /** Stops a service (SIGTERM, then SIGKILL after `graceMs`), or kills it with the given signal. */
  stop(name: string, signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  stopAll(): Promise<void>;
  processes: Map<string, ChildProcess>;
  /** How often each supervised instance was restarted after an unexpected exit. */
  restarts: Map<string, number>;
}

/** The stack's MinIO as an artifact store (bucket `chrysalis`, the dev default). */
export function stackStore(stack: Pick<DevStack, 'env'>): MinioArtifactStore {
  return new MinioArtifactStore({
    endpoint: stack.env['MINIO_ENDPOINT']!,
    accessKey: stack.env['MINIO_ACCESS_KEY']!,
    secretKey: stack.env['MINIO_SECRET_KEY']!,
    bucket: 'chrysalis',
  });
}

/** Back-off before the n-th restart in a row (n ≥ 1): 1 s, 2 s, 4 s, … at most 30 s. */
export function restartDelayMs(n: number): number {
  return Math.min(30_000, 1000 * 2 ** (n - 1));
}

function envPort(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

/** Dev credentials: taken from the environment, else generated once per data dir and kept (0600). */
function credentials(dataDir: string): { accessKey: string; secretKey: string } {
  if (process.env['MINIO_ACCESS_KEY'] && process.env['MINIO_SECRET_KEY'])
    return { accessKey: process.env['MINIO_ACCESS_KEY'], secretKey: process.env['MINIO_SECRET_KEY'] };
  const file = path.join(dataDir, 'minio-credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { accessKey: string; secretKey: string };
  const creds = { accessKey: 'chrysalis', secretKey: randomBytes(18).toString('base64url') };
  writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  proc?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null)
      throw new Error(`${what} exited with code ${proc.exitCode} while starting (see its log)`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000}s`);
}

async function tcpOpen(port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Where the stack lives and how its processes reach each other. */
interface StackSettings {
  dataDir: string;
  toolsDir: string;
  ports: { temporal: number; temporalUi: number; minio: number; minioConsole: number };
  creds: { accessKey: string; secretKey: string };
  /** What a client or worker needs to reach this stack. */
  env: Record<string, string>;
  workerEnv: NodeJS.ProcessEnv;
}

/** Settings from the options (else the CHRYSALIS_* variables, else the defaults); writes dev.env. */
function stackSettings(opts: DevStackOptions): StackSettings {
  const dataDir = path.resolve(opts.dataDir ?? process.env['CHRYSALIS_DATA_DIR'] ?? path.join(repoRoot, '.data'));
  const toolsDir = path.resolve(opts.toolsDir ?? process.env['CHRYSALIS_TOOLS_DIR'] ?? path.join(repoRoot, '.tools'));
  const ports = {
    temporal: opts.ports?.temporal ?? envPort('CHRYSALIS_DEV_TEMPORAL_PORT', 7233),
    temporalUi: opts.ports?.temporalUi ?? envPort('CHRYSALIS_DEV_TEMPORAL_UI_PORT', 8233),
    minio: opts.ports?.minio ?? envPort('CHRYSALIS_DEV_MINIO_PORT', 9000),
    minioConsole: opts.ports?.minioConsole ?? envPort('CHRYSALIS_DEV_MINIO_CONSOLE_PORT', 9001),
  };
  for (const d of ['temporal', 'minio', 'logs']) mkdirSync(path.join(dataDir, d), { recursive: true });
  const creds = credentials(dataDir);
  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
    MINIO_ENDPOINT: `http://127.0.0.1:${ports.minio}`,
    MINIO_ACCESS_KEY: creds.accessKey,
    MINIO_SECRET_KEY: creds.secretKey,
    CHRYSALIS_DATA_DIR: dataDir,
    CHRYSALIS_TOOLS_DIR: toolsDir,
  };
  const lines = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  writeFileSync(path.join(dataDir, 'dev.env'), `${lines.join('\n')}\n`, { mode: 0o600 });
  return { dataDir, toolsDir, ports, creds, env, workerEnv: { ...process.env, ...env, ...(opts.workerEnv ?? {}) } };
}

/** The command line of each service. */
function serviceCommand(name: ServiceName, st: StackSettings): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const tool = (bin: string): string => {
    const p = path.join(st.toolsDir, 'bin', bin);
    if (!existsSync(p)) throw new Error(`${bin} is not installed in ${st.toolsDir}/bin; run \`npm run setup\``);
    return p;
  };
  const { ports, dataDir } = st;
  switch (name) {
    case 'temporal':
      return {
        cmd: tool('temporal'),
        args: [
          ...['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(ports.temporal)],
          ...['--ui-port', String(ports.temporalUi), '--db-filename', path.join(dataDir, 'temporal', 'dev.sqlite')],
          ...['--log-level', 'warn'],
          ...['ChrysalisPipeline', 'ChrysalisDataset', 'ChrysalisPreset'].flatMap((a) => [
            '--search-attribute',
            `${a}=Keyword`,
          ]),
        ],
        env: process.env,
      };
    case 'minio':
      return {
        cmd: tool('minio'),
        args: [
          ...['server', path.join(dataDir, 'minio'), '--address', `127.0.0.1:${ports.minio}`],
          ...['--console-address', `127.0.0.1:${ports.minioConsole}`, '--quiet'],
        ],
        env: {
          ...process.env,
          MINIO_ROOT_USER: st.creds.accessKey,
          MINIO_ROOT_PASSWORD: st.creds.secretKey,
          MINIO_BROWSER: 'off',
          MINIO_UPDATE: 'off',
        },
      };
    default:
      return { cmd: process.execPath, args: [path.join(repoRoot, 'dist', 'workers', `${name}.js`)], env: st.workerEnv };
  }
}

/** The processes of one dev stack: started, stopped, and (when asked) restarted when they die. */
class LocalDevStack implements DevStack {
  readonly env: Record<string, string>;
  readonly dataDir: string;
  readonly processes = new Map<string, ChildProcess>();
  readonly restarts = new Map<string, number>();
  private readonly logsFlushed = new Map<string, Promise<void>>();
  private readonly stopping = new Set<string>();
  private readonly inRow = new Map<string, number>();
  private closing = false;

  constructor(
    private readonly st: StackSettings,
    private readonly opts: DevStackOptions,
  ) {
    this.env = st.env;
    this.dataDir = st.dataDir;
  }

  logFile(name: string): string {
    return path.join(this.dataDir, 'logs', `${name}.log`);
  }

  async start(
    name: ServiceName,
    extraEnv: Record<string, string> = {},
    instance: string = name,
  ): Promise<ChildProcess> {
    const c = serviceCommand(name, this.st);
    const file = this.logFile(instance);
    const from = existsSync(file) ? statSync(file).size : 0;
    const log = createWriteStream(file, { flags: 'a' });
    const child = spawn(c.cmd, c.args, { env: { ...c.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of [child.stdout, child.stderr]) {
      s.pipe(log, { end: false });
      if (this.opts.echo) s.on('data', (d: Buffer) => process.stderr.write(d));
    }
    // 'close' comes after the child's output is drained; stop() waits for the log to be flushed too,
    // so a log read after stop() holds everything the process wrote.
    this.logsFlushed.set(instance, new Promise((resolve) => child.once('close', () => log.end(() => resolve()))));
    this.processes.set(instance, child);
    this.stopping.delete(instance);
    if (this.opts.supervise && name.endsWith('-worker')) this.supervise(name, instance, child, extraEnv);
    await this.ready(name, child, instance, from);
    return child;
  }

  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
    const p = this.processes.get(name);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    this.stopping.add(name);
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    await this.logsFlushed.get(name);
    this.processes.delete(name);
  }

  async stopAll(): Promise<void> {
    this.closing = true;
    // Workers first (they checkpoint and drain), then the servers they talk to.
    const order = [...this.processes.keys()]
      .sort((a, b) => Number(a.includes('worker')) - Number(b.includes('worker')))
      .reverse();
    for (const n of order) await this.stop(n);
  }

  /** Servers answer on their port; workers say so in their log (only what this start wrote counts). */
  private ready(name: ServiceName, p: ChildProcess, instance: string, from: number): Promise<void> {
    const { ports } = this.st;
    const logSays = (text: string) => async () =>
      readFileSync(this.logFile(instance)).subarray(from).toString('utf8').includes(text);
    if (name === 'temporal') return waitFor('Temporal dev server', () => tcpOpen(ports.temporal), 60_000, p);
    if (name === 'minio') {
      const live = async () => (await fetch(`http://127.0.0.1:${ports.minio}/minio/health/live`)).ok;
      return waitFor('MinIO', live, 60_000, p);
    }
    const what = name.replace('-', ' ');
    return waitFor(what, logSays(`${what} started`), 120_000, p);
  }

  /** Restarts a worker that exited on its own; the back-off grows while it keeps dying young. */
  private supervise(name: ServiceName, instance: string, child: ChildProcess, extraEnv: Record<string, string>): void {
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      if (this.closing || this.stopping.has(instance) || this.processes.get(instance) !== child) return;
      const n = Date.now() - startedAt > 60_000 ? 1 : (this.inRow.get(instance) ?? 0) + 1;
      this.inRow.set(instance, n);
      const delay = restartDelayMs(n);
      this.note(instance, `${instance} exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s`);
      setTimeout(() => {
        if (this.closing || this.stopping.has(instance)) return;
        this.restarts.set(instance, (this.restarts.get(instance) ?? 0) + 1);
        this.start(name, extraEnv, instance)
          .then(() => this.note(instance, `${instance} restarted`))
          .catch((err: unknown) => this.note(instance, `${instance} restart failed: ${(err as Error).message}`));
      }, delay).unref();
    });
  }

  private note(instance: string, text: string): void {
    const line = `[dev-stack] ${text}\n`;
    process.stderr.write(line);
    try {
      appendFileSync(this.logFile(instance), line);
    } catch {
      // the log directory went away with its data dir: nothing to record
    }
  }
}

export async function startDevStack(opts: DevStackOptions = {}): Promise<DevStack> {
  const stack = new LocalDevStack(stackSettings(opts), opts);
  try {
    for (const name of opts.services ?? ['temporal', 'minio', 'pipeline-worker', 'compute-worker'])
      await stack.start(name);
  } catch (err) {
    await stack.stopAll();
    throw err;
  }
  return stack;
}
