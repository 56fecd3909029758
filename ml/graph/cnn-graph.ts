/**
 * A built-in CNN as graph nodes (ml/graph/step-graph.ts's GraphModel): ml/models.ts's pass — per filter bank a 3×3
 * 'same' Conv2D, BiasAdd, Relu and a 2×2 'valid' MaxPool; a ReLU dense layer with dropout on its output; the
 * output layer — and its backward pass written out with TensorFlow's own gradient kernels (Conv2DBackpropFilter /
 * Input, MaxPoolGrad, ReluGrad, BiasAddGrad), the kernels tfjs's tape calls for the eager step.
 */
import { channelsOf } from '../../common/input-shape';
import type { InputShape } from '../../common/input-shape';
import type { CnnSpec } from '../models';
import type { GraphBuilder, Out } from './builder';
import type { GraphModel, GraphVariable, TrainingPass } from './step-graph';

const STRIDE_1 = { listInt: [1, 1, 1, 1] };
const POOL = { listInt: [1, 2, 2, 1] };

/** The parameters in ml/models.ts's order and shapes, and the flattened size after the last pool. */
function layout(spec: CnnSpec, shape: InputShape, classes: number): { params: GraphVariable[]; flat: number } {
  let [h, w, c] = [shape[0], shape[1], channelsOf(shape)];
  const params: GraphVariable[] = [];
  spec.filters.forEach((f, i) => {
    params.push({ name: `conv${i}`, shape: [3, 3, c, f] }, { name: `convb${i}`, shape: [f] });
    [h, w, c] = [Math.floor(h / 2), Math.floor(w / 2), f];
  });
  const flat = h * w * c;
  params.push(
    { name: 'dense', shape: [flat, spec.dense] },
    { name: 'denseb', shape: [spec.dense] },
    { name: 'out', shape: [spec.dense, classes] },
    { name: 'outb', shape: [classes] },
  );
  return { params, flat };
}

/** The graph model of a CNN of `spec` over inputs of `shape` (flattened HWC rows) to `classes` logits. */
export function cnnGraphModel(spec: CnnSpec, shape: InputShape, classes: number): GraphModel {
  const { params, flat } = layout(spec, shape, classes);
  const image = [-1, shape[0], shape[1], channelsOf(shape)];
  const conv = (b: GraphBuilder, a: Out, kernel: Out) =>
    b.f('Conv2D', [a, kernel], { strides: STRIDE_1, padding: { s: 'SAME' } });
  const pool = (b: GraphBuilder, a: Out) =>
    b.f('MaxPool', [a], { ksize: POOL, strides: POOL, padding: { s: 'VALID' } });
  const reshape = (b: GraphBuilder, a: Out, to: readonly number[]) =>
    b.op('Reshape', [a, b.ints(to)], { T: { type: 'float' }, Tshape: { type: 'int32' } });

  /** The pass up to the dense layer's ReLU, keeping each layer's input and output for the backward pass. */
  function features(b: GraphBuilder, x: Out, read: (p: string) => Out) {
    const layers: { input: Out; relu: Out; pooled: Out }[] = [];
    let a = reshape(b, x, image);
    spec.filters.forEach((_, i) => {
      const relu = b.f('Relu', [b.f('BiasAdd', [conv(b, a, read(`conv${i}`)), read(`convb${i}`)])]);
      const pooled = pool(b, relu);
      layers.push({ input: a, relu, pooled });
      a = pooled;
    });
    const flatA = reshape(b, a, [-1, flat]);
    const hidden = b.f('Relu', [b.f('BiasAdd', [b.matMul(flatA, read('dense')), read('denseb')])]);
    return { layers, flatA, hidden };
  }
  const logitsOf = (b: GraphBuilder, d: Out, read: (p: string) => Out) =>
    b.f('BiasAdd', [b.matMul(d, read('out')), read('outb')]);

  return {
    params,
    inputSize: image.slice(1).reduce((p, d) => p * d, 1),
    dropoutRates: spec.dropout ? [spec.dropout] : [],
    inference(b, x, read) {
      return logitsOf(b, features(b, x, read).hidden, read);
    },
    training(b, x, read, dropout): TrainingPass {
      const { layers, flatA, hidden } = features(b, x, read);
      const mask = spec.dropout ? dropout(0, hidden) : undefined;
      const d = mask ? b.f('Mul', [hidden, mask]) : hidden;
      return {
        logits: logitsOf(b, d, read),
        backward(dLogits) {
          const grads = new Map<string, { grad: Out; after: Out[] }>();
          const dd = b.matMul(dLogits, read('out'), false, true);
          grads.set('out', { grad: b.matMul(d, dLogits, true, false), after: [dd] });
          grads.set('outb', { grad: b.f('BiasAddGrad', [dLogits]), after: [] });
          const dHidden = b.f('ReluGrad', [mask ? b.f('Mul', [dd, mask]) : dd, hidden]);
          const dFlat = b.matMul(dHidden, read('dense'), false, true);
          grads.set('dense', { grad: b.matMul(flatA, dHidden, true, false), after: [dFlat] });
          grads.set('denseb', { grad: b.f('BiasAddGrad', [dHidden]), after: [] });
          let dA = reshape(b, dFlat, [-1, ...layerShape(spec, shape, layers.length)]);
          for (let i = layers.length - 1; i >= 0; i--) {
            const { input, relu, pooled } = layers[i]!;
            const dRelu = b.f('MaxPoolGrad', [relu, pooled, dA], {
              ksize: POOL,
              strides: POOL,
              padding: { s: 'VALID' },
            });
            const dPre = b.f('ReluGrad', [dRelu, relu]);
            const kernel = params.find((p) => p.name === `conv${i}`)!.shape;
            const attrs = { strides: STRIDE_1, padding: { s: 'SAME' } };
            const dK = b.f('Conv2DBackpropFilter', [input, b.ints(kernel), dPre], attrs);
            const after: Out[] = [];
            if (i > 0) {
              const inputShape = b.op('Shape', [input], { T: { type: 'float' }, out_type: { type: 'int32' } });
              dA = b.f('Conv2DBackpropInput', [inputShape, read(`conv${i}`), dPre], attrs);
              after.push(dA);
            }
            grads.set(`conv${i}`, { grad: dK, after });
            grads.set(`convb${i}`, { grad: b.f('BiasAddGrad', [dPre]), after: [] });
          }
          return grads;
        },
      };
    },
  };
}

/** [h, w, c] after the first `n` conv + pool layers. */
function layerShape(spec: CnnSpec, shape: InputShape, n: number): number[] {
  let [h, w, c] = [shape[0], shape[1], channelsOf(shape)];
  for (let i = 0; i < n; i++) [h, w, c] = [Math.floor(h / 2), Math.floor(w / 2), spec.filters[i]!];
  return [h, w, c];
}
