/**
 * A tensor as plain typed-array data: what ml/ hands to storage/ (weights, optimizer state, logits) and gets back,
 * so neither layer needs the other's types.
 */

export type DType = 'float32' | 'int32' | 'uint8';

export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}
