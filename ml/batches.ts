/** Assembling float batches from a split's inputs, with the paper's translation jitter. */
import { channelsOf, inputSizeOf } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';
import type { Pixels } from './datasets';
import { Rng } from './rng';

/**
 * Copies one example (HWC, starting at `src` of `images`) into `out` at `dst`, divided by `div` and shifted by
 * (dx, dy) with zero fill: pixel (x, y) of the result is (x − dx, y − dy) of the source.
 */
export function copyShifted(
  images: Pixels,
  side: InputShape,
  src: number,
  out: Pixels,
  dst: number,
  shift: readonly [number, number],
  div: number,
): void {
  const [h, w] = side;
  const c = channelsOf(side);
  const [dx, dy] = shift;
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    for (let x = 0; x < w; x++) {
      const sx = x - dx;
      const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
      for (let k = 0; k < c; k++)
        out[dst + (y * w + x) * c + k] = inside ? images[src + (sy * w + sx) * c + k]! / div : 0;
    }
  }
}

/**
 * Copies the examples at `rows` of `indices` into `out` (HWC), uint8 pixels as floats in [0, 1] and float
 * inputs as they are, each shifted by a random (dx, dy) in [−jitter, jitter] with zero fill. jitter = 0 is a
 * plain copy.
 */
export function fillBatch(
  images: Pixels,
  side: InputShape,
  indices: ArrayLike<number>,
  start: number,
  count: number,
  out: Float32Array,
  jitter: number,
  rng: Rng,
): void {
  const size = inputSizeOf(side);
  // Dividing by 1 is exact, and by 255 is what uint8 inputs have always been divided by.
  const div = images instanceof Uint8Array ? 255 : 1;
  for (let b = 0; b < count; b++) {
    const src = indices[start + b]! * size;
    const dst = b * size;
    if (jitter === 0) {
      for (let i = 0; i < size; i++) out[dst + i] = images[src + i]! / div;
      continue;
    }
    const dx = rng.int(-jitter, jitter);
    const dy = rng.int(-jitter, jitter);
    copyShifted(images, side, src, out, dst, [dx, dy], div);
  }
}

/**
 * Like {@link fillBatch} without randomness: batch row b is example `indices[b]` shifted by `shiftOf(b)` (a fixed
 * view, ml/views.ts), so the same row always gets the same input.
 */
export function fillShiftedBatch(
  images: Pixels,
  side: InputShape,
  indices: ArrayLike<number>,
  count: number,
  out: Float32Array,
  shiftOf: (b: number) => readonly [number, number],
): void {
  const size = inputSizeOf(side);
  const div = images instanceof Uint8Array ? 255 : 1;
  for (let b = 0; b < count; b++) copyShifted(images, side, indices[b]! * size, out, b * size, shiftOf(b), div);
}

/** One inference batch of {@link alignedBatches}: rows start..start+count of the call, at `slot` of the batch. */
export interface AlignedBatch {
  start: number;
  count: number;
  slot: number;
}

/**
 * Inference batches of exactly `size` rows at fixed places: row r of the whole set (r = firstRow + i for the
 * call's row i) always lies in batch ⌊r / size⌋ at slot r mod size, the other slots zero. On AVX2 CPUs neither
 * oneDNN's GEMM nor Eigen's gives a row the same bits at every batch size (test/unit/batches.test.ts), so a block
 * of rows computed alone (fan-out inference, a shard) would differ from the whole set in the last bits; at a fixed
 * batch size and slot it cannot. Costs at most two padded batches per call (none when blocks are multiples of size).
 */
export function alignedBatches(n: number, size: number, firstRow = 0): AlignedBatch[] {
  const out: AlignedBatch[] = [];
  for (let start = 0; start < n;) {
    const slot = (firstRow + start) % size;
    const count = Math.min(size - slot, n - start);
    out.push({ start, count, slot });
    start += count;
  }
  return out;
}

/**
 * `classes` outputs per row of `run` on the images at `indices`, in {@link alignedBatches} of `size`: `run` gets
 * one whole batch (size rows, HWC floats, the slots of other rows zero) and returns its size × classes outputs.
 */
export async function alignedOutputs(
  data: { images: Pixels; side: InputShape; indices: Int32Array; firstRow?: number | undefined },
  size: number,
  classes: number,
  run: (batch: Float32Array) => Float32Array,
): Promise<Float32Array> {
  const { images, side, indices } = data;
  const rowSize = inputSizeOf(side);
  const out = new Float32Array(indices.length * classes);
  const buf = new Float32Array(size * rowSize);
  const noJitter = new Rng(0);
  for (const { start, count, slot } of alignedBatches(indices.length, size, data.firstRow)) {
    buf.fill(0);
    fillBatch(images, side, indices, start, count, buf.subarray(slot * rowSize), 0, noJitter);
    out.set(run(buf).subarray(slot * classes, (slot + count) * classes), start * classes);
    await new Promise((r) => setImmediate(r));
  }
  return out;
}
