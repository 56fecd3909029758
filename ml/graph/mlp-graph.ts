/**
 * An MLP as graph nodes (ml/graph/step-graph.ts's GraphModel): ml/models.ts's mlpPass and ml/mlp-step.ts's
 * written-out backward pass op for op — MatMul + BiasAdd (+ Relu), dropout on a layer's input, one MatMul per weight
 * and input gradient, BiasAddGrad, ReluGrad — and max-norm after the update.
 */
import type { MlpSpec } from '../models';
import type { GraphBuilder, Out } from './builder';
import type { GraphModel, GraphVariable, TrainingPass } from './step-graph';

function paramShapes(sizes: readonly number[]): GraphVariable[] {
  return sizes.slice(1).flatMap((out, i) => [
    { name: `w${i}`, shape: [sizes[i]!, out] },
    { name: `b${i}`, shape: [out] },
  ]);
}

function dropoutRate(spec: MlpSpec, layer: number): number {
  return (layer === 0 ? spec.inputDropout : spec.hiddenDropout) ?? 0;
}

/** The graph model of an MLP of `spec` from `inputSize` features to `classes` logits. */
export function mlpGraphModel(spec: MlpSpec, inputSize: number, classes: number): GraphModel {
  const sizes = [inputSize, ...spec.hidden, classes];
  const layers = sizes.length - 1;
  const sites = Array.from({ length: layers }, (_, i) => i).filter((i) => dropoutRate(spec, i) > 0);
  const dense = (b: GraphBuilder, x: Out, i: number, read: (p: string) => Out) =>
    b.f('BiasAdd', [b.matMul(x, read(`w${i}`)), read(`b${i}`)]);
  return {
    params: paramShapes(sizes),
    inputSize,
    dropoutRates: sites.map((i) => dropoutRate(spec, i)),
    inference(b, x, read) {
      let a = x;
      for (let i = 0; i < layers; i++) a = i + 1 < layers ? b.f('Relu', [dense(b, a, i, read)]) : dense(b, a, i, read);
      return a;
    },
    training(b, x, read, dropout): TrainingPass {
      const inputs: Out[] = [];
      const activations: Out[] = [];
      const masks: (Out | undefined)[] = [];
      let a = x;
      for (let i = 0; i < layers; i++) {
        const site = sites.indexOf(i);
        const mask = site >= 0 ? dropout(site, a) : undefined;
        if (mask) a = b.f('Mul', [a, mask]);
        inputs.push(a);
        masks.push(mask);
        a = dense(b, a, i, read);
        if (i + 1 < layers) {
          a = b.f('Relu', [a]);
          activations.push(a);
        }
      }
      return {
        logits: a,
        backward(dLogits) {
          const grads = new Map<string, { grad: Out; after: Out[] }>();
          let dz = dLogits;
          for (let i = layers - 1; i >= 0; i--) {
            const dw = b.matMul(inputs[i]!, dz, true, false);
            grads.set(`b${i}`, { grad: b.f('BiasAddGrad', [dz]), after: [] });
            if (i === 0) {
              grads.set(`w${i}`, { grad: dw, after: [] });
              break;
            }
            let da = b.matMul(dz, read(`w${i}`), false, true);
            grads.set(`w${i}`, { grad: dw, after: [da] });
            const mask = masks[i];
            if (mask) da = b.f('Mul', [da, mask]);
            dz = b.f('ReluGrad', [da, activations[i - 1]!]);
          }
          return grads;
        },
      };
    },
    ...(spec.maxNorm !== undefined ? { constrain: maxNorm(spec.maxNorm, layers) } : {}),
  };
}

/** Each hidden unit's incoming weight vector rescaled to norm ≤ c, after the updates (ml/models.ts's rule). */
function maxNorm(c: number, layers: number): NonNullable<GraphModel['constrain']> {
  return (b, h, updates) => {
    const out: Out[] = [];
    for (let i = 0; i + 1 < layers; i++) {
      const w = b.read(h(`w${i}`), updates);
      const norms = b.f('Sqrt', [b.reduce('Sum', b.f('Square', [w]), [0], true)]);
      const bound = b.f('RealDiv', [b.scalar(c), b.f('Maximum', [norms, b.scalar(1e-12)])]);
      out.push(b.assign(h(`w${i}`), b.f('Mul', [w, b.f('Minimum', [b.scalar(1), bound])])));
    }
    return out;
  };
}
