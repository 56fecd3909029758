/**
 * How a dataset's raw values become model inputs, as it is stored with every model trained on it (ml/normalize.ts
 * computes and applies it). Its own file, so ml/datasets.ts can name it without importing ml/normalize.ts, which
 * imports it.
 */

/** x · scale, then per channel (x − mean[c]) / std[c]; channels interleaved (HWC), features as channels. */
export interface Normalization {
  /** 1/255 for pixels, 1 for a table's features. */
  scale: number;
  /** One per channel. @default none: no centring */
  mean?: number[];
  /** One per channel, each > 0. @default none: no scaling */
  std?: number[];
}
