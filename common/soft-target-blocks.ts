/**
 * How teacher inference fans out (docs/ARCHITECTURE.md, "Fan-out teacher inference"): the transfer set is cut
 * into blocks of `softTargets.blockSize` examples, and every (teacher, block) pair is one compute activity. Pure
 * and sandbox-safe: the workflows plan the blocks with it, the activities name the block objects with it.
 */

/** Examples per block when the config names none: a block of 10 000 × 10 classes is 400 kB of float32. */
export const DEFAULT_BLOCK_SIZE = 10_000;

/**
 * (teacher, block) activities one child workflow runs: at about 6 history events each (scheduled, started,
 * completed, and a workflow task), 500 stay near 3 000 events, well under Temporal's 10 000-event warning.
 */
export const BLOCKS_PER_CHILD = 500;

/** Block activities a child keeps in flight; more compute workers than this would idle. */
export const BLOCKS_IN_FLIGHT = 16;

/** Child workflows the teacher stage runs at once. */
export const CHILDREN_IN_FLIGHT = 4;

/** One block of the transfer set: examples [start, start + count) of the plan's transfer indices. */
export interface BlockRange {
  block: number;
  start: number;
  count: number;
}

/** The blocks of `n` transfer examples; none for an empty set, and the last one may be short. */
export function blockRanges(n: number, blockSize: number): BlockRange[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`block size ${blockSize}: expected >= 1`);
  return Array.from({ length: Math.ceil(n / blockSize) }, (_, block) => ({
    block,
    start: block * blockSize,
    count: Math.min(blockSize, n - block * blockSize),
  }));
}

/** One (teacher, block) job of the flat list a run fans out: job j is member ⌊j / blocks⌋, block j mod blocks. */
export function blockJob(j: number, n: number, blockSize: number): { member: number } & BlockRange {
  const blocks = Math.ceil(n / blockSize);
  const block = j % blocks;
  const start = block * blockSize;
  return { member: Math.floor(j / blocks), block, start, count: Math.min(blockSize, n - start) };
}

/** The store key of one member's logits on one block, under the soft targets' directory. */
export function blockKey(dir: string, member: number, block: number): string {
  return `${dir}/blocks/${member}-${block}.cht`;
}

/**
 * Runs f(0) … f(count − 1) with at most `limit` running at once, results in order. Deterministic (each slot
 * takes the next index when its last job settles), so workflows may use it.
 */
export async function boundedAll<T>(count: number, limit: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const slot = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await f(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, slot));
  return out;
}

/** One ensemble member: a model trained or given here, or a teacher imported from outside. */
export type Member<M, I> = { model: M } | { imported: I };

/** The members in stored order: given or trained teachers, then imported ones. */
export function membersOf<M, I>(req: { teachers: M[]; imported?: I[] | undefined }): Member<M, I>[] {
  return [...req.teachers.map((model) => ({ model })), ...(req.imported ?? []).map((imported) => ({ imported }))];
}
