/**
 * PNG/JPEG to model input, in one place: the image-folder dataset and `chrysalis predict` both call it, so a
 * served image goes through exactly the decode, resize and rounding its training images did.
 */
import type * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError } from './backend';
import { tidyValues } from './tidy-values';

interface TfNode {
  node: { decodeImage(b: Uint8Array, channels?: number): tf.Tensor3D | tf.Tensor4D };
  image: { resizeBilinear(x: tf.Tensor3D, size: [number, number], alignCorners?: boolean): tf.Tensor3D };
  tidy<T extends tf.TensorContainer>(fn: () => T): T;
}

/** The bytes are not a PNG or JPEG that native TensorFlow (tfjs-node) decodes. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
}

function tfNode(): TfNode {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@tensorflow/tfjs-node') as TfNode;
  } catch (err) {
    // The worker's fault, not the image's: another worker may have it.
    throw new BackendUnavailableError(
      `images are decoded by native TensorFlow, which this process lacks (${(err as Error).message.split('\n')[0]})`,
    );
  }
}

/**
 * One PNG or JPEG as [rows, cols, channels] uint8 pixels (HWC): decoded with `channels` (1 grey, 3 RGB),
 * resized bilinearly when its size differs, rounded back to 0-255.
 */
export function decodeImage(bytes: Uint8Array, shape: readonly [number, number, number]): Uint8Array {
  const t = tfNode();
  const [h, w, c] = shape;
  let img: tf.Tensor3D;
  try {
    img = t.node.decodeImage(bytes, c) as tf.Tensor3D;
  } catch (err) {
    throw new ImageDecodeError(`not a readable PNG or JPEG (${(err as Error).message.split('\n')[0]})`);
  }
  if (img.rank !== 3) {
    img.dispose();
    // tfjs-node's decodeImage also reads GIFs, as a stack of frames.
    throw new ImageDecodeError(`not a PNG or JPEG (decoded to a rank-${img.rank} stack of frames, as a GIF does)`);
  }
  try {
    const values = tidyValues(() =>
      img.shape[0] === h && img.shape[1] === w ? img : t.image.resizeBilinear(img, [h, w], true),
    );
    // A plain loop: Uint8Array.from with a mapping function took 35 ms for a 256 × 256 RGB image, this 0.8.
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(values[i]!)));
    return out;
  } finally {
    img.dispose();
  }
}
