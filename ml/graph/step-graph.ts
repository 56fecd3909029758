/**
 * A net's whole training step as one TensorFlow graph, whatever the net: its forward pass with dropout and its
 * backward pass come from the net's graph model (ml/graph/mlp-graph.ts, cnn-graph.ts); around them this file puts
 * the distillation loss's logit gradient in closed form (TF's SoftmaxCrossEntropyWithLogits / sparse form, as
 * ml/mlp-step.ts), the optimiser's fused in-place update (ResourceApplyGradientDescent / Momentum / Adam), the
 * net's constraints, and the inference pass over the same variables. The eager step stays the reference
 * (test/unit/compiled-step.test.ts).
 *
 * Feeds (train): `x` [n, D], `labels` [n] int32, `soft` [n, C] when the step has a soft term, `hyper` (see
 * {@link HYPER}) and `seeds` [dropout sites, 2] int32 when anything drops out. Fetch `result` = [loss, correct].
 * Feeds (inference): `eval/x`; fetch `eval/logits`. Weights: `in/<var>` fed with `load` fetched; `out/<var>`.
 */
import type { OptimizerSpec } from '../optimizers';
import { GraphBuilder } from './builder';
import type { Out } from './builder';
import type { NodeDef } from './proto';

/** The float scalars fed each step, in order, as one vector (one tensor instead of nine). */
export const HYPER = [
  'lr',
  'momentum',
  'temperature',
  'softGrad',
  'hardGrad',
  'softLoss',
  'hardLoss',
  'beta1Power',
  'beta2Power',
  'epsilon',
] as const;
export type HyperName = (typeof HYPER)[number];
export type Hyper = Record<HyperName, number>;

/**
 * Which loss terms the step has: a soft term (teacher probabilities at T) and/or the hard-label term; `topK`: the
 * soft targets are top-k buckets (ml/losses.ts keptClassKl), fed as `kept`, `mask` and `rest`.
 */
export interface StepTerms {
  soft: boolean;
  hard: boolean;
  /** @default false */
  topK?: boolean;
}

/** A named float variable of the graph: a parameter, or an optimiser slot (`m:<param>`, `v:<param>`). */
export interface GraphVariable {
  name: string;
  shape: number[];
}

/** What a graph model's training pass gives the step: logits, and the gradients of a logit gradient. */
export interface TrainingPass {
  logits: Out;
  /**
   * Each parameter's gradient for logit gradient `dLogits`, and what must run before its update: every other use
   * of its pre-update value (the update is in place).
   */
  backward(dLogits: Out): Map<string, { grad: Out; after: Out[] }>;
}

/** A net written as graph nodes: its parameters, its passes, and what constrains its weights after an update. */
export interface GraphModel {
  params: GraphVariable[];
  inputSize: number;
  /** Dropout rate of each site that drops out, in the order the sites draw their seeds. */
  dropoutRates: number[];
  /** Inference logits of `x`, no dropout. */
  inference(b: GraphBuilder, x: Out, read: (param: string) => Out): Out;
  /** The training pass; `dropout(k, input)` is dropout site k's multiplier for `input` (0 or 1/keep). */
  training(
    b: GraphBuilder,
    x: Out,
    read: (param: string) => Out,
    dropout: (site: number, input: Out) => Out,
  ): TrainingPass;
  /** Assignments that run after `updates` (max-norm), or none. */
  constrain?(b: GraphBuilder, handle: (name: string) => Out, updates: Out[]): Out[];
}

export interface StepGraph {
  nodes: NodeDef[];
  params: GraphVariable[];
  /** Slot keys `m:<param>` / `v:<param>`, as Optimizer.state() has them. */
  slots: GraphVariable[];
  /** Dropout sites, in the order their seeds are fed. */
  dropoutSites: number;
}

export function slotNames(optimizer: OptimizerSpec): string[] {
  if (optimizer.kind === 'adam') return ['m', 'v'];
  return optimizer.momentum === 0 ? [] : ['m'];
}

/** The node-name form of a parameter or slot key (`m:w0` → `m/w0`: TensorFlow names have no colons). */
export function varNode(key: string): string {
  return key.replace(':', '/');
}

export function buildStepGraph(model: GraphModel, optimizer: OptimizerSpec, terms: StepTerms): StepGraph {
  const b = new GraphBuilder();
  const { params } = model;
  const slots = slotNames(optimizer).flatMap((s) => params.map((p) => ({ name: `${s}:${p.name}`, shape: p.shape })));
  const handles = new Map([...params, ...slots].map((v) => [v.name, b.variable(varNode(v.name), v.shape)]));
  const h = (name: string) => handles.get(name)!;
  weightIo(b, [...params, ...slots], h);

  const reads = new Map(params.map((p) => [p.name, b.read(h(p.name))]));
  const read = (name: string) => reads.get(name)!;
  b.identity(model.inference(b, b.placeholder('eval/x', 'float', [-1, model.inputSize]), read), 'eval/logits');

  const x = b.placeholder('x', 'float', [-1, model.inputSize]);
  const labels = b.placeholder('labels', 'int32', [-1]);
  const hv = b.unpack(b.placeholder('hyper', 'float', [HYPER.length]), HYPER.length);
  const hyper = Object.fromEntries(HYPER.map((k, i) => [k, hv[i]!])) as Record<HyperName, Out>;
  const sites = model.dropoutRates.length;
  const seeds = sites > 0 ? b.unpack(b.placeholder('seeds', 'int32', [sites, 2]), sites, 'int32') : [];
  const pass = model.training(b, x, read, (k, input) => dropoutMask(b, input, model.dropoutRates[k]!, seeds[k]!));
  const { loss, dLogits } = lossGradient(b, pass.logits, labels, terms, hyper);
  const grads = pass.backward(dLogits);
  const updates = params.map((p) => {
    const g = grads.get(p.name);
    if (!g) throw new Error(`the graph model gives no gradient for ${p.name}`);
    return update(b, optimizer, h, p.name, g.grad, hyper, g.after);
  });
  const constrained = model.constrain?.(b, h, updates) ?? [];
  const correct = b.reduce('Sum', b.cast(correctRows(b, pass.logits, labels), 'bool', 'float'), [0]);
  b.identity(b.pack([loss, correct]), 'result', [...updates, ...constrained]);
  return { nodes: b.nodes, params, slots, dropoutSites: sites };
}

/** The inference pass alone over the model's parameters: `eval/x` → `eval/logits`, weights through `in/` and `load`. */
export function buildInferenceGraph(model: GraphModel): NodeDef[] {
  const b = new GraphBuilder();
  const handles = new Map(model.params.map((v) => [v.name, b.variable(varNode(v.name), v.shape)]));
  const h = (name: string) => handles.get(name)!;
  weightIo(b, model.params, h);
  const reads = new Map(model.params.map((p) => [p.name, b.read(h(p.name))]));
  const x = b.placeholder('eval/x', 'float', [-1, model.inputSize]);
  b.identity(
    model.inference(b, x, (name) => reads.get(name)!),
    'eval/logits',
  );
  return b.nodes;
}

/** `in/<name>` placeholders assigned by fetching `load`; `out/<name>` reads each variable. */
function weightIo(b: GraphBuilder, vars: GraphVariable[], h: (n: string) => Out): void {
  const assigns = vars.map((v) => b.assign(h(v.name), b.placeholder(`in/${varNode(v.name)}`, 'float', v.shape)));
  b.identity(b.scalar(0), 'load', assigns);
  for (const v of vars) b.identity(b.read(h(v.name)), `out/${varNode(v.name)}`);
}

/** 1/keep where a uniform draw from `seed` is below keep, else 0, shaped as `like` (ml/models.ts draws alike). */
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
  hyper: Record<HyperName, Out>,
): { loss: Out; dLogits: Out } {
  const losses: Out[] = [];
  const grads: Out[] = [];
  if (terms.soft) {
    const soft = terms.topK ? keptClassTerm(b, logits, hyper) : fullSoftTerm(b, logits, hyper);
    losses.push(b.f('Mul', [hyper.softLoss, soft.kl]));
    grads.push(b.f('Mul', [soft.grad, hyper.softGrad]));
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

/** Mean KL(p ‖ softmax(z/T)) against full probability rows `soft`, and its gradient with respect to z/T. */
function fullSoftTerm(b: GraphBuilder, logits: Out, hyper: Record<HyperName, Out>): { kl: Out; grad: Out } {
  const p = b.placeholder('soft', 'float', [-1, -1]);
  const ce = b.f('SoftmaxCrossEntropyWithLogits', [b.f('RealDiv', [logits, hyper.temperature]), p]);
  const negEntropy = b.reduce('Sum', b.f('Mul', [p, b.f('Log', [b.f('Maximum', [p, b.scalar(1e-30)])])]), [1]);
  return {
    kl: b.reduce('Mean', b.f('AddV2', [GraphBuilder.output(ce, 0), negEntropy]), [0]),
    grad: GraphBuilder.output(ce, 1),
  };
}

/**
 * ml/losses.ts's keptClassKl of z/T against top-k buckets (`kept` and `mask` n × C, `rest` n × 1), and its gradient
 * in closed form: q − kept − (1 − mask)·rest·q/q_rest, with q = softmax(z/T) and q_rest the student's probability
 * of the classes not kept; q/q_rest is exp(log q − log q_rest), clamped at 1 (its largest value where not kept)
 * so the kept classes, masked out, cannot overflow it.
 */
function keptClassTerm(b: GraphBuilder, logits: Out, hyper: Record<HyperName, Out>): { kl: Out; grad: Out } {
  const kept = b.placeholder('kept', 'float', [-1, -1]);
  const mask = b.placeholder('mask', 'float', [-1, -1]);
  const rest = b.placeholder('rest', 'float', [-1, 1]);
  const z = b.f('RealDiv', [logits, hyper.temperature]);
  const logSumExp = (x: Out) => {
    const m = b.reduce('Max', x, [1], true);
    return b.f('AddV2', [m, b.f('Log', [b.reduce('Sum', b.f('Exp', [b.f('Sub', [x, m])]), [1], true)])]);
  };
  const logZ = logSumExp(z);
  const logQ = b.f('Sub', [z, logZ]);
  const restLogQ = b.f('Sub', [logSumExp(b.f('Sub', [z, b.f('Mul', [mask, b.scalar(1e30)])])), logZ]);
  const plogp = (p: Out) => b.reduce('Sum', b.f('Mul', [p, b.f('Log', [b.f('Maximum', [p, b.scalar(1e-30)])])]), [1]);
  const cross = b.f('AddV2', [
    b.reduce('Sum', b.f('Mul', [kept, logQ]), [1]),
    b.reduce('Sum', b.f('Mul', [rest, restLogQ]), [1]),
  ]);
  const kl = b.reduce('Mean', b.f('Sub', [b.f('AddV2', [plogp(kept), plogp(rest)]), cross]), [0]);
  const share = b.f('Exp', [b.f('Minimum', [b.f('Sub', [logQ, restLogQ]), b.scalar(0)])]);
  const outside = b.f('Mul', [b.f('Mul', [b.f('Sub', [b.scalar(1), mask]), share]), rest]);
  return { kl, grad: b.f('Sub', [b.f('Sub', [b.f('Exp', [logQ]), kept]), outside]) };
}

/** The optimiser's fused in-place update of `name`, after `after`. */
function update(
  b: GraphBuilder,
  opt: OptimizerSpec,
  h: (n: string) => Out,
  name: string,
  grad: Out,
  hyper: Record<HyperName, Out>,
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
  const inputs = [h(name), h(`m:${name}`), hyper.lr, grad, hyper.momentum];
  const attrs = { ...F, use_nesterov: { b: opt.nesterov ?? false } };
  return b.op('ResourceApplyMomentum', inputs, attrs, 'ApplyMomentum', after);
}
