/**
 * The order a streaming run visits a sharded training set in (docs/DATA.md, "Sharded data and streaming"). Pure,
 * and a function of (seed, epoch) only, so a run resumed at any window boundary replays exactly what an
 * uninterrupted run does.
 *
 * Shard s holds the split's examples [s·size, (s + 1)·size). Each epoch the shards are shuffled and taken `window`
 * at a time; a window's rows are shuffled among themselves and trained in batches that do not cross windows. With
 * one window (window ≥ shards) the order is exactly the unsharded order: all rows, shuffled by `shuffle/<epoch>`.
 */
import { Rng, deriveSeed } from './rng';

/** How a split is cut into shards and how many of them training holds at once. */
export interface StreamLayout {
  /** Examples per shard (the last one may be short). */
  shardSize: number;
  /** Shards in memory (and shuffled together) at once; ≥ the shard count means all of them. */
  window: number;
}

/** One window of an epoch: its shards, in the order their examples are concatenated in memory. */
export interface StreamWindow {
  shards: number[];
  /** The window's rows (positions in the training indices), in the order training visits them. */
  rows: Int32Array;
  /** Names the randomness of this window: `<epoch>` for the first, `<epoch>/<w>` for the others. */
  label: string;
}

/**
 * For sorted example indices, where each shard's rows start: rows [starts[s], starts[s + 1]) of `indices` lie in
 * shard s. Length shards + 1.
 */
export function shardStarts(indices: Int32Array, shardSize: number, shards: number): Int32Array {
  const starts = new Int32Array(shards + 1);
  let r = 0;
  for (let s = 0; s <= shards; s++) {
    const limit = s * shardSize;
    while (r < indices.length && indices[r]! < limit) r++;
    starts[s] = r;
  }
  starts[shards] = indices.length;
  for (let i = 1; i < indices.length; i++)
    if (indices[i]! < indices[i - 1]!) throw new RangeError('streaming needs sorted example indices');
  return starts;
}

/** The shards that hold at least one of the rows, as `shardStarts` gives them. */
function nonEmptyShards(starts: Int32Array): number[] {
  const out: number[] = [];
  for (let s = 0; s + 1 < starts.length; s++) if (starts[s + 1]! > starts[s]!) out.push(s);
  return out;
}

/** The windows of one epoch, in visiting order, with their rows shuffled. */
export function epochWindows(starts: Int32Array, layout: StreamLayout, seed: number, epoch: number): StreamWindow[] {
  const used = nonEmptyShards(starts);
  const single = layout.window >= used.length;
  const shardOrder = single ? used : new Rng(deriveSeed(seed, `shards/${epoch}`)).shuffle(used.slice());
  const windows: StreamWindow[] = [];
  for (let w = 0; w * layout.window < Math.max(shardOrder.length, 1); w++) {
    const shards = shardOrder.slice(w * layout.window, (w + 1) * layout.window);
    // Straight into a typed array: a plain array of a million rows is ~10 MB of JS heap per window, per epoch.
    const rows = new Int32Array(shards.reduce((a, s) => a + starts[s + 1]! - starts[s]!, 0));
    let at = 0;
    for (const s of shards) for (let r = starts[s]!; r < starts[s + 1]!; r++) rows[at++] = r;
    const label = w === 0 ? `${epoch}` : `${epoch}/${w}`;
    windows.push({ shards, rows: new Rng(deriveSeed(seed, `shuffle/${label}`)).shuffle(rows), label });
  }
  return windows;
}

/**
 * Where each example of a window lies in the window's buffer (its shards' examples concatenated in window order):
 * the position of example `index`, which must lie in one of the window's shards.
 */
export function windowPositions(
  shards: readonly number[],
  shardSize: number,
  shardLength: (s: number) => number,
): (index: number) => number {
  const base = new Map<number, number>();
  let at = 0;
  for (const s of shards) {
    base.set(s, at);
    at += shardLength(s);
  }
  return (index) => {
    const s = Math.floor(index / shardSize);
    const b = base.get(s);
    if (b === undefined) throw new RangeError(`example ${index} is in shard ${s}, not in this window`);
    return b + index - s * shardSize;
  };
}
