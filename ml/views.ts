/**
 * Consistent augmented views (config `transfer.views: K`): K fixed shifted copies of every transfer example, each
 * with the teachers' soft targets computed on exactly that copy, so a student trained on the stored soft targets
 * sees the very view its targets were computed on (Beyer et al. 2022; FKD's per-crop soft labels).
 *
 * Rows are example-major: transfer row r = i·K + v is view v of transfer example i, so the rows of a contiguous
 * range of transfer examples are contiguous. View v's shift is a pure function of (seed, dataset index, v, jitter):
 * any process, any block, any later run computes the same view.
 */
import { inputSizeOf } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';
import { copyShifted } from './batches';
import type { Pixels } from './datasets';
import { Rng, deriveSeed } from './rng';

/**
 * The shift rule, named in the data plan's digest (and so in the soft-target cache key and the students' digests):
 * a change to {@link viewShift} must change this string.
 */
export const VIEW_RULE = 'v1: view 0 unshifted; view v >= 1: Rng(deriveSeed(seed, "view/<index>/<v>")) dx, dy';

/** The views of a run: K per transfer example, shifts in [−jitter, jitter], drawn from the run's seed. */
export interface ViewSpec {
  count: number;
  jitter: number;
  seed: number;
}

/**
 * The (dx, dy) of view v of dataset example `index`, each an integer in [−jitter, jitter]. View 0 is the image
 * itself: the one test inputs look like, and what the stored soft targets without views are computed on, so K
 * views always contain the plain transfer set.
 */
export function viewShift(seed: number, index: number, v: number, jitter: number): [number, number] {
  if (v === 0 || jitter === 0) return [0, 0];
  const rng = new Rng(deriveSeed(seed, `view/${index}/${v}`));
  const dx = rng.int(-jitter, jitter);
  const dy = rng.int(-jitter, jitter);
  return [dx, dy];
}

/** The dataset index of every row: each transfer index K times in a row (length n·K). */
export function viewIndices(transfer: Int32Array, count: number): Int32Array {
  const out = new Int32Array(transfer.length * count);
  for (let i = 0; i < transfer.length; i++) out.fill(transfer[i]!, i * count, (i + 1) * count);
  return out;
}

/** The shift of row r of the view rows of `transfer` (r = i·K + v). */
export function rowShift(spec: ViewSpec, transfer: Int32Array): (row: number) => [number, number] {
  return (row) => viewShift(spec.seed, transfer[Math.floor(row / spec.count)]!, row % spec.count, spec.jitter);
}

/**
 * The rows [start, start + count) of the views of `transfer` as images of their own (same dtype as `images`,
 * zero fill), one per row in order: what a teacher is run on for those rows' soft targets.
 */
export function viewImages(
  images: Pixels,
  side: InputShape,
  transfer: Int32Array,
  spec: ViewSpec,
  rows: { start: number; count: number },
  /** Where transfer example i lies in `images` (a block of a sharded dataset holds its own rows only). */
  position: (i: number) => number = (i) => transfer[i]!,
): Pixels {
  const size = inputSizeOf(side);
  const out = images instanceof Uint8Array ? new Uint8Array(rows.count * size) : new Float32Array(rows.count * size);
  const shift = rowShift(spec, transfer);
  for (let b = 0; b < rows.count; b++) {
    const r = rows.start + b;
    copyShifted(images, side, position(Math.floor(r / spec.count)) * size, out, b * size, shift(r), 1);
  }
  return out;
}
