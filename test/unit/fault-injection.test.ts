/** Test fault injection's knobs: parsed strictly at load, and a hold that ends only by drain or cancellation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledFailure } from '@temporalio/activity';
import type { Context } from '@temporalio/activity';
import { holdUntilDrained, parseHoldBlocks, parseHoldEpoch } from '../../activities/fault-injection';
import { createLogger } from '../../config/logger';
import { Writable } from 'node:stream';

test('CHRYSALIS_FAULT_HOLD_BLOCKS: unset or empty holds nothing; "<member>-<block>" pairs; anything else fails', () => {
  assert.deepEqual([...parseHoldBlocks(undefined)], []);
  assert.deepEqual([...parseHoldBlocks(' ')], []);
  assert.deepEqual([...parseHoldBlocks('0-2')], ['0-2']);
  assert.deepEqual([...parseHoldBlocks('1-03, 0-2')], ['1-3', '0-2']);
  for (const bad of ['2', '0-', '-1', '0-1-2', 'a-b', '0-1,', '0:1', '0-1.5'])
    assert.throws(() => parseHoldBlocks(bad), /CHRYSALIS_FAULT_HOLD_BLOCKS: expected <member>-<block>/, bad);
});

test('CHRYSALIS_FAULT_HOLD_EPOCH: unset or empty holds nothing; a whole number ≥ 1; anything else fails', () => {
  assert.equal(parseHoldEpoch(undefined), undefined);
  assert.equal(parseHoldEpoch(' '), undefined);
  assert.equal(parseHoldEpoch('3'), 3);
  assert.equal(parseHoldEpoch(' 12 '), 12);
  for (const bad of ['0', '-1', '1.5', 'two', '1,2', '03'])
    assert.throws(() => parseHoldEpoch(bad), /CHRYSALIS_FAULT_HOLD_EPOCH: expected a whole number of epochs ≥ 1/, bad);
});

/** A stand-in activity context: counts heartbeats, cancellable. */
function fakeContext() {
  const abort = new AbortController();
  const beats: unknown[] = [];
  const ctx = { cancellationSignal: abort.signal, heartbeat: (d: unknown) => beats.push(d) } as unknown as Context;
  return { ctx, beats, cancel: () => abort.abort() };
}

function holdWith(ctx: Context, draining: () => boolean, lines: string[]) {
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) });
  const log = createLogger({ name: 'test', format: 'json', destination: sink });
  const details = { epoch: 1 };
  const what = 'training';
  return holdUntilDrained({
    what,
    fields: details,
    variable: 'CHRYSALIS_FAULT_HOLD_EPOCH',
    log,
    ctx,
    details: () => details,
    draining,
  });
}

test('a hold heartbeats until the worker drains, then returns; its line names the variable', async () => {
  const { ctx, beats } = fakeContext();
  let draining = false;
  const lines: string[] = [];
  let returned = false;
  const held = holdWith(ctx, () => draining, lines).then(() => (returned = true));
  while (beats.length < 2) await new Promise((r) => setTimeout(r, 50));
  assert.equal(returned, false, 'still held before the drain');
  draining = true;
  await held;
  assert.deepEqual(beats[0], { epoch: 1 });
  assert.match(lines.join(''), /"epoch":1,.*"msg":"training held \(fault injection: CHRYSALIS_FAULT_HOLD_EPOCH\)"/);
});

test('a hold ends with a CancelledFailure when its activity is cancelled', async () => {
  const { ctx, beats, cancel } = fakeContext();
  const held = holdWith(ctx, () => false, []);
  while (beats.length < 1) await new Promise((r) => setTimeout(r, 50));
  cancel();
  await assert.rejects(held, (e: unknown) => e instanceof CancelledFailure && /cancelled while held/.test(e.message));
});
