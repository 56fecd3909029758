/** Deterministic train / validation / transfer index sets over a dataset's training split. */
import { Rng, deriveSeed } from './rng';

export type TransferRule =
  | { kind: 'full' }
  | { kind: 'fraction'; fraction: number }
  | { kind: 'excludeClasses'; classes: number[] }
  | { kind: 'onlyClasses'; classes: number[] };

export interface SplitSpec {
  validationSize: number;
  trainLimit?: number | undefined;
  transfer: TransferRule;
  seed: number;
}

export interface Plan {
  train: Int32Array;
  validation: Int32Array;
  transfer: Int32Array;
}

export function makePlan(labels: Uint8Array, spec: SplitSpec): Plan {
  const n = labels.length;
  if (spec.validationSize >= n)
    throw new Error(`validationSize ${spec.validationSize} leaves no training data (dataset has ${n})`);
  const order = new Rng(deriveSeed(spec.seed, 'split')).shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const validation = order.slice(0, spec.validationSize).sort();
  let train = order.slice(spec.validationSize);
  if (spec.trainLimit !== undefined) train = train.slice(0, spec.trainLimit);
  train.sort();
  let transfer: Int32Array;
  const t = spec.transfer;
  switch (t.kind) {
    case 'full':
      transfer = train;
      break;
    case 'fraction': {
      const shuffled = new Rng(deriveSeed(spec.seed, 'transfer')).shuffle(train.slice());
      transfer = shuffled.slice(0, Math.max(1, Math.round(train.length * t.fraction))).sort();
      break;
    }
    case 'excludeClasses':
      transfer = train.filter((i) => !t.classes.includes(labels[i]!));
      break;
    case 'onlyClasses':
      transfer = train.filter((i) => t.classes.includes(labels[i]!));
      break;
  }
  if (transfer.length === 0) throw new Error('the transfer set is empty');
  return { train, validation, transfer };
}
