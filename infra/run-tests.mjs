// `npm test` after build + lint: starts a real Temporal dev server and a real MinIO on test ports
// with a throw-away data dir, runs every unit and integration test in one node:test run, stops them.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { startDevStack } = require(path.join(root, 'dist/infra/dev-stack.js'));

// Every port a test uses is CHRYSALIS_TEST_PORT_BASE + a fixed offset (test/helpers/ports.ts), so two
// suites on one machine (two clones, or a developer beside CI) each get their own by setting the base.
const portBase = Number(process.env.CHRYSALIS_TEST_PORT_BASE ?? 17200);
if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65000) {
  process.stderr.write(`[tests] CHRYSALIS_TEST_PORT_BASE must be an integer in 1024-65000, got ${portBase}\n`);
  process.exit(2);
}
process.env.CHRYSALIS_TEST_PORT_BASE = String(portBase);
const ports = { temporal: portBase, temporalUi: portBase + 1, minio: portBase + 2, minioConsole: portBase + 3 };
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-test-'));
process.env.CHRYSALIS_DEV_TEMPORAL_PORT = String(ports.temporal);
process.env.CHRYSALIS_DEV_TEMPORAL_UI_PORT = String(ports.temporalUi);
process.env.CHRYSALIS_DEV_MINIO_PORT = String(ports.minio);
process.env.CHRYSALIS_DEV_MINIO_CONSOLE_PORT = String(ports.minioConsole);

function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

/**
 * Workflows still running on the shared test server once every test has finished: each test must
 * end what it starts. Visibility lags a little behind, so a run is only reported once it has stayed
 * open for 30 s after the suite.
 */
async function openWorkflows(address) {
  const { Client, Connection } = require(path.join(root, 'node_modules/@temporalio/client'));
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const open = [];
      for await (const w of client.workflow.list({ query: 'ExecutionStatus = "Running"' }))
        open.push(`${w.workflowId} (${w.type}, started ${w.startTime.toISOString()})`);
      if (open.length === 0 || Date.now() > deadline) return open;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await connection.close();
  }
}

const filter = process.argv.slice(2);
let stack;
let code = 1;
try {
  process.stderr.write(`[tests] starting Temporal dev server and MinIO (data: ${dataDir})\n`);
  stack = await startDevStack({ dataDir, ports, services: ['temporal', 'minio'] });
  const testFiles = files(path.join(root, 'dist/test'))
    .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
    .sort();
  code = await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--test', '--test-concurrency=1', `--test-timeout=${20 * 60_000}`, '--test-reporter=spec', ...testFiles],
      {
        stdio: 'inherit',
        env: {
          ...process.env,
          ...stack.env,
          CHRYSALIS_TEST_DATA_DIR: dataDir,
          CHRYSALIS_LOG_LEVEL: process.env.CHRYSALIS_LOG_LEVEL ?? 'info',
        },
      },
    );
    child.on('exit', (c) => resolve(c ?? 1));
  });
  const open = await openWorkflows(stack.env.TEMPORAL_ADDRESS);
  if (open.length > 0) {
    const list = open.join('\n  ');
    process.stderr.write(`[tests] FAILED: ${open.length} workflow(s) left running by the suite:\n  ${list}\n`);
    code = 1;
  } else process.stderr.write('[tests] no workflow left running on the test server\n');
} catch (err) {
  process.stderr.write(`[tests] could not run: ${err instanceof Error ? err.message : err}\n`);
} finally {
  await stack?.stopAll();
  if (code === 0 && !process.env.CHRYSALIS_KEEP_TEST_DATA) rmSync(dataDir, { recursive: true, force: true });
  else process.stderr.write(`[tests] data and logs kept in ${dataDir}\n`);
}
process.exit(code);
