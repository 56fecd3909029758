/**
 * A tensor as plain typed-array data: what ml/ hands to storage/ (weights, optimizer state, logits) and gets back,
 * so neither layer needs the other's types.
 */

/** `float16` data are IEEE 754 half-precision bit patterns in a Uint16Array (decoded by ml/, not by storage). */
export type DType = 'float32' | 'int32' | 'uint8' | 'uint16' | 'float16';

export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array | Uint16Array;
}
