/** Assembling float batches from uint8 images, with the paper's translation jitter. */
import type { Rng } from './rng';

/**
 * Copies the images at `rows` of `indices` into `out` as floats in [0, 1], each shifted by a
 * random (dx, dy) in [−jitter, jitter] with zero fill. jitter = 0 is a plain copy.
 */
export function fillBatch(
  images: Uint8Array,
  side: [number, number],
  indices: ArrayLike<number>,
  start: number,
  count: number,
  out: Float32Array,
  jitter: number,
  rng: Rng,
): void {
  const [h, w] = side;
  const size = h * w;
  for (let b = 0; b < count; b++) {
    const src = indices[start + b]! * size;
    const dst = b * size;
    if (jitter === 0) {
      for (let i = 0; i < size; i++) out[dst + i] = images[src + i]! / 255;
      continue;
    }
    const dx = rng.int(-jitter, jitter);
    const dy = rng.int(-jitter, jitter);
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      for (let x = 0; x < w; x++) {
        const sx = x - dx;
        out[dst + y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? images[src + sy * w + sx]! / 255 : 0;
      }
    }
  }
}
