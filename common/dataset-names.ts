/**
 * The built-in datasets, named here rather than in ml/ so the input schemas (config/) can list them without loading
 * tfjs. `mnist+fashion` is the 20-class union (digits 0–9, garments 10–19).
 */
export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'mnist+fashion'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];
