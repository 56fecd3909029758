/** Runs the dev stack in the foreground until Ctrl-C: `npm run dev`, `chrysalis dev`. */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDevStack } from './dev-stack';

const uiPort = Number(process.env['CHRYSALIS_DEV_TEMPORAL_UI_PORT'] ?? 8233);
void (async () => {
  const stack = await startDevStack({ echo: process.env['CHRYSALIS_DEV_QUIET'] !== '1', supervise: true });
  process.stderr.write(
    [
      '',
      'chrysalis dev stack is up:',
      `  Temporal  ${stack.env['TEMPORAL_ADDRESS']} (UI http://127.0.0.1:${uiPort})`,
      `  MinIO     ${stack.env['MINIO_ENDPOINT']}`,
      `  logs      ${path.join(stack.dataDir, 'logs')}`,
      `  env       ${path.join(stack.dataDir, 'dev.env')}`,
      'Workers that die are restarted (back-off 1 s, doubling to 30 s). Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  // Scripts (quickstart) wait for this file; it disappears when the stack stops.
  const ready = path.join(stack.dataDir, 'dev-stack.ready');
  writeFileSync(ready, `${process.pid}\n`);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping the dev stack…\n');
    rmSync(ready, { force: true });
    void stack.stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
})().catch((err: unknown) => {
  process.stderr.write(`dev-stack: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
