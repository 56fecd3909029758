/**
 * Test fault injection, off unless set (production sets neither variable, and nothing changes). Each lets an
 * integration test interrupt a compute worker at a known point instead of racing a timer against training speed:
 *
 * - `CHRYSALIS_FAULT_HOLD_BLOCKS="<member>-<block>[,...]"`: those soft-target blocks, once started, hold (heartbeating,
 *   storing nothing) until the worker dies; a draining worker fails them (a retry recomputes the block).
 * - `CHRYSALIS_FAULT_HOLD_EPOCH="<n>"`: a training activity holds at the end of epoch n, after logging it and before
 *   its checkpoint decision, until the worker dies or drains; a drain then takes the normal path (checkpoint epoch n,
 *   hand back). Every model the worker trains holds there, so start only the worker to be interrupted with it.
 *
 * Both are read once, at load; a malformed value fails the worker then.
 */
import { CancelledFailure } from '@temporalio/activity';
import type { Context } from '@temporalio/activity';
import type { Logger } from '../config/logger';

export function parseHoldBlocks(value: string | undefined): ReadonlySet<string> {
  if (value === undefined || value.trim() === '') return new Set();
  return new Set(
    value.split(',').map((item) => {
      const m = /^\s*(\d+)-(\d+)\s*$/.exec(item);
      const got = JSON.stringify(item);
      if (!m) throw new Error(`CHRYSALIS_FAULT_HOLD_BLOCKS: expected <member>-<block>[,...], got ${got}`);
      return `${Number(m[1])}-${Number(m[2])}`;
    }),
  );
}

export function parseHoldEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (!/^\s*[1-9]\d*\s*$/.test(value))
    throw new Error(`CHRYSALIS_FAULT_HOLD_EPOCH: expected a whole number of epochs ≥ 1, got ${JSON.stringify(value)}`);
  return Number(value);
}

export const HOLD_BLOCKS = parseHoldBlocks(process.env['CHRYSALIS_FAULT_HOLD_BLOCKS']);
export const HOLD_EPOCH = parseHoldEpoch(process.env['CHRYSALIS_FAULT_HOLD_EPOCH']);

/** What a hold needs: what is held (logged), what to heartbeat, and how to tell the worker drains. */
export interface Hold {
  what: string;
  /** Logged with the hold's line (which block, which epoch). */
  fields: Record<string, unknown>;
  variable: 'CHRYSALIS_FAULT_HOLD_BLOCKS' | 'CHRYSALIS_FAULT_HOLD_EPOCH';
  log: Logger;
  ctx: Context | undefined;
  details: () => unknown;
  draining: (() => boolean) | undefined;
}

/**
 * Holds until the worker drains (then returns) or the activity is cancelled (then throws), heartbeating all along
 * so the hold outlives any heartbeat timeout; a kill -9 ends it with the process.
 */
export async function holdUntilDrained(hold: Hold): Promise<void> {
  hold.log.warn(hold.fields, `${hold.what} held (fault injection: ${hold.variable})`);
  for (;;) {
    if (hold.draining?.()) return;
    if (hold.ctx?.cancellationSignal.aborted) throw new CancelledFailure(`${hold.what}: cancelled while held`);
    hold.ctx?.heartbeat(hold.details());
    await new Promise((r) => setTimeout(r, 200));
  }
}
