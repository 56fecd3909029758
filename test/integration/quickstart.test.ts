/**
 * The README's first command, as a newcomer runs it: `bash infra/quickstart.sh` with no arguments
 * (set-up check, build, its own dev stack, the mnist-quick distillation through Temporal, stop).
 * Only the data directory and the ports differ, so it cannot meet the test stack's servers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../config/env';
import { testPortBase } from '../helpers/ports';
import { requireStackEnv } from '../helpers/stack';

test('bash infra/quickstart.sh runs the main job end to end and stops its stack', () => {
  requireStackEnv();
  const ports = testPortBase('quickstart');
  const data = mkdtempSync(path.join(process.env['CHRYSALIS_TEST_DATA_DIR']!, 'quickstart-'));
  // A newcomer's environment: none of the test stack's addresses, queues or credentials.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(TEMPORAL_|MINIO_|CHRYSALIS_)/.test(k)),
  );
  Object.assign(env, {
    CHRYSALIS_DATA_DIR: data,
    CHRYSALIS_DEV_TEMPORAL_PORT: String(ports),
    CHRYSALIS_DEV_TEMPORAL_UI_PORT: String(ports + 1),
    CHRYSALIS_DEV_MINIO_PORT: String(ports + 2),
    CHRYSALIS_DEV_MINIO_CONSOLE_PORT: String(ports + 3),
  });
  const r = spawnSync('bash', [path.join(repoRoot, 'infra/quickstart.sh')], {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    timeout: 900_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  // Two teachers, the hard-label baseline and the distilled student, each with its MNIST test errors.
  const roles = [...r.stdout.matchAll(/^\| [\w.-]+ \| (\w+) \| \d+ \| \d+\.\d+% \|/gm)].map((m) => m[1]);
  assert.deepEqual(roles, ['teacher', 'teacher', 'baseline', 'student'], r.stdout);
  assert.match(r.stdout, /report: chrysalis report distill-mnist-quick-[0-9a-f]{8}/);
  assert.match(r.stdout, /\[quickstart\] done in \d+s/);
  assert.equal(existsSync(path.join(data, 'dev-stack.ready')), false, 'the dev stack stopped');
});
