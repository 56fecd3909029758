import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../config';

test('logger redacts secrets by key and by value, and writes JSON', () => {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (d: Buffer) => chunks.push(d.toString()));
  const log = createLogger({ name: 't', format: 'json', secrets: ['hunter2-secret'], destination: out });
  log.info({ minio: { secretKey: 'abc' }, MINIO_SECRET_KEY: 'def' }, 'connecting');
  log.error(new Error('auth failed for key hunter2-secret'), 'oops');
  const text = chunks.join('');
  assert.ok(!text.includes('hunter2-secret'));
  assert.ok(!text.includes('"abc"') && !text.includes('"def"'));
  assert.match(text, /\[REDACTED\]/);
  const first = JSON.parse(text.split('\n')[0]!) as { name: string; msg: string };
  assert.equal(first.name, 't');
  assert.equal(first.msg, 'connecting');
});
