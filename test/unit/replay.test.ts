/**
 * Durable runs outlive worker upgrades: histories recorded by earlier versions of the workflows
 * (test/fixtures/histories: binary History protos, gzipped; how they were made is in the README
 * there) must replay on this code without a nondeterminism error. A change to a workflow's sequence
 * of commands needs a `patched()` marker, or this test fails.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { repoRoot } from '../../config/env';

const dir = path.join(repoRoot, 'test/fixtures/histories');

test('workflow histories recorded by earlier versions replay on this code', async () => {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.history.pb.gz'))
    .sort();
  assert.ok(files.length >= 4, 'fixtures: a distillation run, a specialists run and its child, a student search');
  for (const file of files) {
    const history = temporal.api.history.v1.History.decode(gunzipSync(readFileSync(path.join(dir, file))));
    const workflowId = file.replace(/\.history\.pb\.gz$/, '');
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, workflowId).catch(
      (err: unknown) => assert.fail(`${file}: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
});
