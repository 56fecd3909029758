/**
 * An MLP's whole training step as one TensorFlow graph: forward pass with dropout, the distillation loss's logit
 * gradient in closed form (TF's SoftmaxCrossEntropyWithLogits / sparse form, as ml/mlp-step.ts), the backward pass,
 * the optimiser's fused update (ResourceApplyGradientDescent / Momentum / Adam) and max-norm, all in one call; and
 * the inference pass over the same variables. The mathematics is ml/mlp-step.ts's, op for op where TensorFlow has
 * the op, so the eager step stays the reference (test/unit/compiled-step.test.ts).
 *
 * Feeds (train): `x` [n, D], `labels` [n] int32, `soft` [n, C] when the step has a soft term, `hyper` (see
 * {@link HYPER}) and `seeds` [dropout layers, 2] int32 when any layer drops out. Fetch `result` = [loss, correct].
 * Feeds (inference): `eval/x`; fetch `eval/logits`. Weights: `in/<param>` fed with `load` fetched; `out/<param>`.
 */
import type { MlpSpec } from '../models';
import type { OptimizerSpec } from '../optimizers';
import { GraphBuilder } from './builder';
import type { Out } from './builder';
import type { NodeDef } from './proto';

/** The float scalars fed each step, in order, as one vector (one tensor instead of up to eight). */
export const HYPER = [
  'lr',
  'temperature',
  'softGrad',
  'hardGrad',
  'softLoss',
  'hardLoss',
  'beta1Power',
  'beta2Power',
  'epsilon',
] as const;
export type Hyper = Record<(typeof HYPER)[number], number>;

/** Which loss terms the step has: a soft term (teacher probabilities at T) and/or the hard-label term. */
export interface StepTerms {
  soft: boolean;
  hard: boolean;
}

export interface MlpGraphSpec {
  spec: MlpSpec;
  /** Layer sizes: input, hidden…, classes. */
  sizes: readonly number[];
  optimizer: OptimizerSpec;
  terms: StepTerms;
}

/** What the graph names: parameters and optimiser slots (as ml/optimizers.ts keys them), dropout layers. */
export interface MlpGraph {
  nodes: NodeDef[];
  params: { name: string; shape: number[] }[];
  /** Slot keys `m:<param>` / `v:<param>`, as Optimizer.state() has them. */
  slots: { key: string; shape: number[] }[];
  /** Layers whose input drops out, in the order their seeds are fed. */
  dropoutLayers: number[];
}

export function paramShapes(sizes: readonly number[]): { name: string; shape: number[] }[] {
  return sizes.slice(1).flatMap((out, i) => [
    { name: `w${i}`, shape: [sizes[i]!, out] },
    { name: `b${i}`, shape: [out] },
  ]);
}

export function slotNames(optimizer: OptimizerSpec): string[] {
  if (optimizer.kind === 'adam') return ['m', 'v'];
  return optimizer.momentum === 0 ? [] : ['m'];
}

export function dropoutRate(spec: MlpSpec, layer: number): number {
  return (layer === 0 ? spec.inputDropout : spec.hiddenDropout) ?? 0;
}

export function buildMlpGraph(g: MlpGraphSpec): MlpGraph {
  const b = new GraphBuilder();
  const params = paramShapes(g.sizes);
  const slotKinds = slotNames(g.optimizer);
  const slots = slotKinds.flatMap((s) => params.map((p) => ({ key: `${s}:${p.name}`, shape: p.shape })));
  const vars = new Map([
    ...params.map((p) => [p.name, p.shape] as const),
    ...slots.map((s) => [s.key, s.shape] as const),
  ]);
  const handle = new Map([...vars].map(([name, shape]) => [name, b.variable(varNode(name), shape)]));
  const h = (name: string) => handle.get(name)!;
  weightIo(b, vars, h);

  const layers = g.sizes.length - 1;
  const reads = new Map(params.map((p) => [p.name, b.read(h(p.name))]));
  const w = (i: number) => reads.get(`w${i}`)!;
  const bias = (i: number) => reads.get(`b${i}`)!;
  const dense = (x: Out, i: number) => b.f('BiasAdd', [b.matMul(x, w(i)), bias(i)]);

  // Inference: no dropout.
  let e = b.placeholder('eval/x', 'float', [-1, g.sizes[0]!]);
  for (let i = 0; i < layers; i++) e = i + 1 < layers ? b.f('Relu', [dense(e, i)]) : dense(e, i);
  b.identity(e, 'eval/logits');

  const x = b.placeholder('x', 'float', [-1, g.sizes[0]!]);
  const labels = b.placeholder('labels', 'int32', [-1]);
  const hv = b.unpack(b.placeholder('hyper', 'float', [HYPER.length]), HYPER.length);
  const hyper = Object.fromEntries(HYPER.map((k, i) => [k, hv[i]!])) as Record<(typeof HYPER)[number], Out>;
  const dropoutLayers = Array.from({ length: layers }, (_, i) => i).filter((i) => dropoutRate(g.spec, i) > 0);
  const seeds =
    dropoutLayers.length > 0
      ? b.unpack(b.placeholder('seeds', 'int32', [dropoutLayers.length, 2]), dropoutLayers.length, 'int32')
      : [];

  // Forward, keeping what the backward pass needs.
  const inputs: Out[] = [];
  const activations: Out[] = [];
  const masks: (Out | undefined)[] = [];
  let a = x;
  for (let i = 0; i < layers; i++) {
    const k = dropoutLayers.indexOf(i);
    const mask = k >= 0 ? dropoutMask(b, a, dropoutRate(g.spec, i), seeds[k]!) : undefined;
    if (mask) a = b.f('Mul', [a, mask]);
    inputs.push(a);
    masks.push(mask);
    a = dense(a, i);
    if (i + 1 < layers) {
      a = b.f('Relu', [a]);
      activations.push(a);
    }
  }
  const logits = a;
  const { loss, dLogits } = lossGradient(b, logits, labels, g.terms, hyper);

  // Backward and updates: each parameter's update waits for every use of its pre-update value.
  const updates: Out[] = [];
  const apply = (name: string, grad: Out, after: Out[]) =>
    updates.push(update(b, g.optimizer, h, name, grad, hyper, after));
  let dz = dLogits;
  for (let i = layers - 1; i >= 0; i--) {
    const dw = b.matMul(inputs[i]!, dz, true, false);
    const db = b.f('BiasAddGrad', [dz]);
    if (i === 0) {
      apply(`w${i}`, dw, []);
      apply(`b${i}`, db, []);
      break;
    }
    let da = b.matMul(dz, w(i), false, true);
    apply(`w${i}`, dw, [da]);
    apply(`b${i}`, db, []);
    const mask = masks[i];
    if (mask) da = b.f('Mul', [da, mask]);
    dz = b.f('ReluGrad', [da, activations[i - 1]!]);
  }
  const constrained = g.spec.maxNorm === undefined ? [] : maxNorm(b, g.spec.maxNorm, layers, h, updates);

  const correct = b.op('Sum', [b.cast(correctRows(b, logits, labels), 'bool', 'float'), b.ints([0])], {
    T: { type: 'float' },
    Tidx: { type: 'int32' },
    keep_dims: { b: false },
  });
  b.identity(b.pack([loss, correct]), 'result', [...updates, ...constrained]);
  return { nodes: b.nodes, params, slots, dropoutLayers };
}

/** The node-name form of a parameter or slot key (`m:w0` → `m/w0`: TensorFlow names have no colons). */
export function varNode(key: string): string {
  return key.replace(':', '/');
}

/** `in/<name>` placeholders assigned by fetching `load`; `out/<name>` reads each variable. */
function weightIo(b: GraphBuilder, vars: Map<string, number[]>, h: (n: string) => Out): void {
  const assigns = [...vars].map(([name, shape]) =>
    b.assign(h(name), b.placeholder(`in/${varNode(name)}`, 'float', shape)),
  );
  b.identity(b.scalar(0), 'load', assigns);
  for (const name of vars.keys()) b.identity(b.read(h(name)), `out/${varNode(name)}`);
}

/** 1/keep where a uniform draw from `seed` is below keep, else 0 (ml/models.ts draws the same mask eagerly). */
function dropoutMask(b: GraphBuilder, like: Out, rate: number, seed: Out): Out {
  const keep = 1 - rate;
  const shape = b.op('Shape', [like], { T: { type: 'float' }, out_type: { type: 'int32' } });
  const u = b.op('StatelessRandomUniform', [shape, seed], {
    dtype: { type: 'float' },
    T: { type: 'int32' },
    Tseed: { type: 'int32' },
  });
  const kept = b.cast(b.f('Less', [u, b.scalar(keep)]), 'bool', 'float');
  return b.f('Mul', [kept, b.scalar(1 / keep)]);
}

/** Rows whose largest logit is at the label (bool). */
function correctRows(b: GraphBuilder, logits: Out, labels: Out): Out {
  const argMax = b.op('ArgMax', [logits, b.constant({ dtype: 'int32', shape: [], values: [1] })], {
    T: { type: 'float' },
    Tidx: { type: 'int32' },
    output_type: { type: 'int32' },
  });
  return b.op('Equal', [argMax, labels], { T: { type: 'int32' } });
}

/** The batch's loss (as distillationLoss reads) and its gradient with respect to the logits. */
function lossGradient(
  b: GraphBuilder,
  logits: Out,
  labels: Out,
  terms: StepTerms,
  hyper: Record<(typeof HYPER)[number], Out>,
): { loss: Out; dLogits: Out } {
  const losses: Out[] = [];
  const grads: Out[] = [];
  if (terms.soft) {
    const p = b.placeholder('soft', 'float', [-1, -1]);
    const ce = b.f('SoftmaxCrossEntropyWithLogits', [b.f('RealDiv', [logits, hyper.temperature]), p]);
    const negEntropy = b.reduce('Sum', b.f('Mul', [p, b.f('Log', [b.f('Maximum', [p, b.scalar(1e-30)])])]), [1]);
    const kl = b.reduce('Mean', b.f('AddV2', [GraphBuilder.output(ce, 0), negEntropy]), [0]);
    losses.push(b.f('Mul', [hyper.softLoss, kl]));
    grads.push(b.f('Mul', [GraphBuilder.output(ce, 1), hyper.softGrad]));
  }
  if (terms.hard) {
    const ce = b.op('SparseSoftmaxCrossEntropyWithLogits', [logits, labels], {
      T: { type: 'float' },
      Tlabels: { type: 'int32' },
    });
    losses.push(b.f('Mul', [hyper.hardLoss, b.reduce('Mean', GraphBuilder.output(ce, 0), [0])]));
    grads.push(b.f('Mul', [GraphBuilder.output(ce, 1), hyper.hardGrad]));
  }
  const sum = (xs: Out[]) => (xs.length === 1 ? xs[0]! : b.f('AddV2', [xs[0]!, xs[1]!]));
  return { loss: sum(losses), dLogits: sum(grads) };
}

/** The optimiser's fused in-place update of `name`, after `after`. */
function update(
  b: GraphBuilder,
  opt: OptimizerSpec,
  h: (n: string) => Out,
  name: string,
  grad: Out,
  hyper: Record<(typeof HYPER)[number], Out>,
  after: Out[],
): Out {
  const F = { T: { type: 'float' as const } };
  if (opt.kind === 'adam') {
    const { beta1 = 0.9, beta2 = 0.999 } = opt;
    const inputs = [h(name), h(`m:${name}`), h(`v:${name}`), hyper.beta1Power, hyper.beta2Power, hyper.lr];
    inputs.push(b.scalar(beta1), b.scalar(beta2), hyper.epsilon, grad);
    return b.op('ResourceApplyAdam', inputs, F, 'ApplyAdam', after);
  }
  if (opt.momentum === 0) return b.op('ResourceApplyGradientDescent', [h(name), hyper.lr, grad], F, 'ApplySgd', after);
  const inputs = [h(name), h(`m:${name}`), hyper.lr, grad, b.scalar(opt.momentum ?? 0.9)];
  return b.op(
    'ResourceApplyMomentum',
    inputs,
    { ...F, use_nesterov: { b: opt.nesterov ?? false } },
    'ApplyMomentum',
    after,
  );
}

/** Each hidden unit's incoming weight vector rescaled to norm ≤ c, after the updates (ml/models.ts's rule). */
function maxNorm(b: GraphBuilder, c: number, layers: number, h: (n: string) => Out, updates: Out[]): Out[] {
  const out: Out[] = [];
  for (let i = 0; i + 1 < layers; i++) {
    const w = b.read(h(`w${i}`), updates);
    const norms = b.f('Sqrt', [b.reduce('Sum', b.f('Square', [w]), [0], true)]);
    const factor = b.f('Minimum', [
      b.scalar(1),
      b.f('RealDiv', [b.scalar(c), b.f('Maximum', [norms, b.scalar(1e-12)])]),
    ]);
    out.push(b.assign(h(`w${i}`), b.f('Mul', [w, factor])));
  }
  return out;
}
