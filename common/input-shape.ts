/**
 * The shape of one input example: [rows, cols] for one-channel images (every model before colour was
 * stored so, which keeps their manifests and digests), or [rows, cols, channels] with the channels
 * interleaved (HWC, the layout of IDX n×H×W×C files and of decoded PNG/JPEG).
 */
export type InputShape = [number, number] | [number, number, number];

export function channelsOf(shape: readonly number[]): number {
  return shape[2] ?? 1;
}

/** Numbers in one flattened example. */
export function inputSizeOf(shape: readonly number[]): number {
  return shape[0]! * shape[1]! * channelsOf(shape);
}

/** The canonical shape: two entries for one channel, three otherwise. */
export function imageShape(rows: number, cols: number, channels: number): InputShape {
  return channels === 1 ? [rows, cols] : [rows, cols, channels];
}
