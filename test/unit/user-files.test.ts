/**
 * The boundary around every reader of user files (data/user-files.ts): what a parse throws becomes a
 * non-retryable InvalidInput naming the field and the file, in the reader's words or, for an error that escaped a
 * library, named by its class; errors of the machinery around the parse pass through, so they are still retried.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { invalidInput, toFailure } from '../../activities/failures';
import { isFileFault, isInfrastructureError, parseUserFile, readLocalUserFile } from '../../data/user-files';
import { BackendUnavailableError } from '../../ml/backend';
import { IdxFormatError } from '../../ml/idx';
import { StoreUnavailableError } from '../../storage/errors';

const where = { field: 'data.idx.trainLabels', file: 'minio:user/labels.idx', format: 'IDX file' };

/** What `parse` leaves as, through the boundary, sync or async. */
async function thrown(parse: () => unknown): Promise<unknown> {
  try {
    await parseUserFile(where, parse);
  } catch (err) {
    return err;
  }
  return assert.fail('expected the parse to fail');
}

function invalid(err: unknown): string {
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, 'InvalidInput');
  assert.equal(err.nonRetryable, true);
  return err.message;
}

test('a parse error is InvalidInput naming the field and the file, sync or async', async () => {
  assert.equal(
    invalid(
      await thrown(() => {
        throw new IdxFormatError('header promises 6 values, file holds 5');
      }),
    ),
    'invalid input: data.idx.trainLabels: minio:user/labels.idx: header promises 6 values, file holds 5',
  );
  // V8's own words vary between Node versions after the position.
  assert.match(
    invalid(await thrown(async () => JSON.parse('{') as unknown)),
    /^invalid input: data\.idx\.trainLabels: minio:user\/labels\.idx: not a readable IDX file \(SyntaxError: Expected property name or '\}' in JSON at position 1\b/,
  );
  assert.equal(
    invalid(await thrown(() => (null as unknown as { paths: string[] }).paths)),
    "invalid input: data.idx.trainLabels: minio:user/labels.idx: not a readable IDX file (TypeError: Cannot read properties of null (reading 'paths'))",
  );
  assert.equal(
    parseUserFile(where, () => 7),
    7,
    'a parse that passes returns its value',
  );
  assert.equal(await parseUserFile(where, async () => 8), 8);
});

test('errors of the machinery pass the boundary as they are and stay retryable', async () => {
  const store = new StoreUnavailableError('get', 'user/labels.idx', new Error('connect ECONNREFUSED'));
  assert.equal(await thrown(async () => Promise.reject(store)), store);
  const mapped = toFailure(store, 'prepareData');
  assert.ok(mapped instanceof ApplicationFailure && mapped.type === 'StoreUnavailable' && !mapped.nonRetryable);
  const disk = Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE', syscall: 'open' });
  assert.equal(await thrown(() => Promise.reject(disk)), disk, 'a failed system call is the machine, not the file');
  assert.equal(isInfrastructureError(disk), true);
  assert.equal(isInfrastructureError(new BackendUnavailableError('no native TensorFlow')), true);
  assert.equal(isInfrastructureError(new TypeError('x is not a function')), false);
  // A zlib error has a code but names no system call: the bytes' fault.
  const zlib = Object.assign(new Error('unknown compression method'), { code: 'Z_DATA_ERROR', errno: -3 });
  assert.match(
    invalid(await thrown(() => Promise.reject(zlib))),
    /not a readable IDX file \(Error: unknown compression method\)$/,
  );
  // A failure decided inside (a more precise field) is kept.
  const own = invalidInput('teachers.import.0.signature: no signature "x"');
  assert.equal(await thrown(() => Promise.reject(own)), own);
});

test('a local file that cannot be read for its own reasons is InvalidInput; a failing disk is not', async () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: x`), { code, syscall: 'open' });
  for (const code of ['ENOENT', 'EISDIR', 'EACCES', 'ELOOP']) assert.equal(isFileFault(errno(code)), true, code);
  for (const code of ['EIO', 'EMFILE', 'ENFILE', 'ENOMEM']) assert.equal(isFileFault(errno(code)), false, code);
  const err = await readLocalUserFile({ field: 'data.images.train', file: '/tmp' }, '/tmp').then(
    () => assert.fail('a folder is not a file'),
    (e: unknown) => e,
  );
  assert.equal(invalid(err), 'invalid input: data.images.train: /tmp: cannot read it (EISDIR)');
});
