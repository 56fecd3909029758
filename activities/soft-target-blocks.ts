/**
 * Fan-out teacher inference: one activity per (teacher, block) of the transfer set, each storing that block's
 * float32 logits, and one that assembles them into exactly the object computeSoftTargets writes (same bytes, same
 * manifest), so students, the cache and the storage formats see no difference. A failed or killed block retries
 * alone; a block already stored is not computed again.
 */
import { encodeTensors } from '../storage/tensor-codec';
import { blockKey, blockRanges, membersOf } from '../common/soft-target-blocks';
import { keys } from '../artifacts/models';
import {
  blockInputs,
  memberLogits,
  softTargetInputs,
  storeSoftTargets,
  storeSoftTargetsManifest,
} from '../artifacts/soft-targets';
import type { BlockRequest } from '../artifacts/soft-targets';
import type { ComputeDeps } from './compute-deps';
import { activityContext, activityHeartbeat } from './durable-training';
import { HOLD_BLOCKS, holdUntilDrained } from './fault-injection';
import { blockLogits, writeSoftTargetParts } from '../artifacts/soft-target-parts';
import type { SoftTargetsRef } from '../contracts/exchange';
import type { SoftTargetsRequest } from '../contracts/exchange';

/** Holds a block named in CHRYSALIS_FAULT_HOLD_BLOCKS until the worker is killed; fails it if the worker drains. */
async function holdBlock(deps: ComputeDeps, key: string): Promise<never> {
  const ctx = activityContext();
  await holdUntilDrained({
    what: 'teacher logits block',
    fields: { key },
    variable: 'CHRYSALIS_FAULT_HOLD_BLOCKS',
    log: deps.logger,
    ctx,
    details: () => ({ held: key }),
    draining: deps.draining,
  });
  throw new Error(`${key}: held block released, the worker is draining`);
}

/** The bytes a block of `count` × C float32 logits takes as stored: a smaller object is no finished block. */
function blockBytes(count: number, C: number): number {
  return encodeTensors({ logits: { dtype: 'float32', shape: [count, C], data: new Float32Array(count * C) } }).length;
}

/**
 * Stores one member's float32 logits on one block. Idempotent: a block already stored whole (a retry after a
 * crash, or a re-run) is returned at once with `computed: false`, so only the blocks in flight are lost.
 */
async function teacherLogitsBlock(
  deps: ComputeDeps,
  req: BlockRequest,
): Promise<{ key: string; computed: boolean; seconds: number }> {
  const { store } = deps;
  const key = blockKey(keys.softTargets(req.key), req.member, req.block);
  const C = req.data.numClasses;
  const done = await store.stat(key);
  if (done && done.bytes === blockBytes(req.count, C)) return { key, computed: false, seconds: 0 };
  const { ds, transfer, range, position } = await blockInputs(deps, req);
  if (HOLD_BLOCKS.has(`${req.member}-${req.block}`)) await holdBlock(deps, key);
  activityContext()?.heartbeat({ member: req.member, block: req.block });
  const t0 = performance.now();
  const data = await memberLogits(store, req.teacher, ds, transfer, range, req.data.views, position);
  const seconds = (performance.now() - t0) / 1000;
  await store.put(key, encodeTensors({ logits: { dtype: 'float32', shape: [req.count, C], data } }));
  deps.logger.info({ key, member: req.member, block: req.block, count: req.count }, 'teacher logits block stored');
  return { key, computed: true, seconds };
}

/**
 * Reads every member's blocks in order and stores the soft targets: of sharded data as one part per block
 * (artifacts/soft-target-parts.ts), so neither this step nor a streaming student ever holds them whole; else
 * exactly as computeSoftTargets does. The block objects are kept: a re-run of this step (or of the whole fan-out)
 * then computes nothing again.
 */
async function assembleSoftTargets(
  deps: ComputeDeps,
  req: SoftTargetsRequest & { blockSize: number; inferenceSeconds: number },
): Promise<SoftTargetsRef> {
  if (req.data.shards) {
    const parts = await writeSoftTargetParts(deps, req, activityHeartbeat);
    return storeSoftTargetsManifest(deps, req, { ...parts, inferenceSeconds: req.inferenceSeconds });
  }
  const n = req.data.counts.transfer;
  const C = req.data.numClasses;
  const members = membersOf(req).length;
  const all = new Float32Array(members * n * C);
  const dir = keys.softTargets(req.key);
  for (let m = 0; m < members; m++)
    for (const { block, start, count } of blockRanges(n, req.blockSize))
      all.set(await blockLogits(deps.store, dir, m, block, count * C), (m * n + start) * C);
  return storeSoftTargets(deps, req, all, { n, C, inferenceSeconds: req.inferenceSeconds });
}

/** All of the soft targets in one activity: every member on the whole transfer set, heartbeating per member. */
export async function computeSoftTargets(deps: ComputeDeps, req: SoftTargetsRequest): Promise<SoftTargetsRef> {
  const { ds, transfer } = await softTargetInputs(deps, req);
  const C = ds.numClasses;
  const views = req.data.views;
  const n = transfer.length * (views?.count ?? 1);
  const members = membersOf(req);
  const all = new Float32Array(members.length * n * C);
  let inferenceSeconds = 0;
  for (const [m, member] of members.entries()) {
    const t0 = performance.now();
    all.set(await memberLogits(deps.store, member, ds, transfer, { start: 0, count: n }, views), m * n * C);
    inferenceSeconds += (performance.now() - t0) / 1000;
    activityHeartbeat({ teacher: m + 1 });
  }
  return storeSoftTargets(deps, req, all, { n, C, inferenceSeconds });
}

export const softTargetBlockActivities = { teacherLogitsBlock, assembleSoftTargets };
