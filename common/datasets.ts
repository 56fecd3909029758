/**
 * The built-in datasets and what the config needs to know of them before loading: input shape and
 * class count, for cross-field checks (class ids, model sizes) at the boundary. Named here rather than
 * in ml/ so the input schemas (config/) can use them without loading tfjs; ml/datasets.ts loads them,
 * and a unit test holds these facts to what it loads.
 */
export const BUILTIN_DATASETS = {
  mnist: { inputShape: [28, 28], classes: 10 },
  'fashion-mnist': { inputShape: [28, 28], classes: 10 },
  /** The 20-class union: digits 0–9, garments 10–19. */
  'mnist+fashion': { inputShape: [28, 28], classes: 20 },
} as const satisfies Record<string, { inputShape: readonly [number, number]; classes: number }>;

/** Fashion-MNIST's labels 0–9, in its order (they name classes in reports and exports). */
export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export type DatasetName = keyof typeof BUILTIN_DATASETS;

export const DATASET_NAMES = Object.keys(BUILTIN_DATASETS) as [DatasetName, ...DatasetName[]];

/** Classes of a dataset known before loading, or undefined for user data (checked once loaded). */
export function knownClasses(dataset: string): number | undefined {
  return Object.hasOwn(BUILTIN_DATASETS, dataset) ? BUILTIN_DATASETS[dataset as DatasetName].classes : undefined;
}
