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

/** A split the data cannot give; `field` is the config path to change. Mapped to `InvalidInput`. */
export class SplitError extends Error {
  override readonly name = 'SplitError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export function makePlan(labels: Uint8Array, spec: SplitSpec): Plan {
  const n = labels.length;
  if (spec.validationSize >= n)
    throw new SplitError(
      'data.validationSize',
      `${spec.validationSize} leaves no training data: the dataset has ${n} training examples ` +
        `(hold out fewer, e.g. data.validationSize=${Math.floor(n / 10)})`,
    );
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
  if (transfer.length === 0)
    throw new SplitError('transfer', `the rule ${JSON.stringify(t)} leaves no transfer examples of ${train.length}`);
  return { train, validation, transfer };
}

/**
 * What a plan leaves that the user may not expect: most of the data held out for validation, very
 * little to train on, or a transfer set far smaller than the training set that no rule asked for.
 */
export function planWarnings(n: number, plan: Plan, spec: SplitSpec): string[] {
  const warnings: string[] = [];
  const pct = (a: number, b: number) => `${Math.round((100 * a) / b)}%`;
  if (spec.validationSize > n / 2)
    warnings.push(
      `data.validationSize ${spec.validationSize} holds out ${pct(spec.validationSize, n)} of the ${n} training ` +
        `examples, leaving ${n - spec.validationSize}`,
    );
  if (plan.train.length < 1000) warnings.push(`only ${plan.train.length} training examples`);
  const t = spec.transfer;
  const asked = t.kind === 'excludeClasses' || t.kind === 'onlyClasses' || (t.kind === 'fraction' && t.fraction < 0.1);
  if (!asked && plan.transfer.length < 0.1 * plan.train.length)
    warnings.push(
      `the transfer set has ${plan.transfer.length} examples, ` +
        `${pct(plan.transfer.length, plan.train.length)} of the ${plan.train.length} training examples`,
    );
  else if (plan.transfer.length < 100) warnings.push(`only ${plan.transfer.length} transfer examples`);
  return warnings;
}
