/**
 * The readers' own format errors, in a leaf so that data/user-files.ts can name them (as errors whose message stands
 * alone) without importing the readers, which import it.
 */

/** A CSV table that does not parse, or whose columns are not what the config declares. */
export class CsvError extends Error {
  override readonly name = 'CsvError';
}

/** The bytes are not a PNG or JPEG that native TensorFlow (tfjs-node) decodes. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
}
