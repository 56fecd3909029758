import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../config/env';

function setup(env: Record<string, string> = {}) {
  const r = spawnSync('bash', [path.join(repoRoot, 'infra/setup.sh')], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('re-running set-up when everything is installed is a no-op', () => {
  const started = Date.now();
  const r = setup();
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /installing|downloading|building|compil/i);
  assert.match(r.out, /npm: node_modules up to date/);
  assert.match(r.out, /temporal: (already installed|using)/);
  assert.match(r.out, /minio: (already installed|using)/);
  assert.match(r.out, /already in place .* nothing to do/);
  assert.ok(Date.now() - started < 60_000);
});

test('a wrong TEMPORAL_CLI_PATH stops set-up naming the piece, the command and the variable', () => {
  const r = setup({ TEMPORAL_CLI_PATH: '/nonexistent/temporal' });
  assert.equal(r.code, 1);
  assert.match(r.out, /FAILED: could not install the Temporal CLI\./);
  assert.match(r.out, /command that failed: \/nonexistent\/temporal --version/);
  assert.match(r.out, /set TEMPORAL_CLI_PATH/);
});

test('a wrong MINIO_BINARY is reported the same way', () => {
  const r = setup({ MINIO_BINARY: '/nonexistent/minio' });
  assert.equal(r.code, 1);
  assert.match(r.out, /could not install the MinIO server/);
  assert.match(r.out, /set MINIO_BINARY/);
});
