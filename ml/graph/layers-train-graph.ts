/**
 * A layers net (ml/layers-net.ts) as a graph model (ml/graph/step-graph.ts): its layer chain as stages
 * (ml/graph/layer-stages.ts), run forward keeping each stage's input and output, and back in reverse with TF's
 * gradient kernels, so a user's own topology trains as one TensorFlow call per step like the built-in students.
 *
 * Its Dropout layers are dropout sites drawing their masks from the step's seeds (StatelessRandomUniform), one seed
 * per Dropout layer as the eager pass draws them: the same seed gives the same masks on this path, every run and
 * after a resume, but not the masks tfjs's Dropout layer draws on the eager path.
 */
import type * as tf from '@tensorflow/tfjs';
import type { GraphBuilder, Out } from './builder';
import { layerStages } from './layer-stages';
import type { Stage, Unsupported } from './layer-stages';
import type { GraphModel, GraphVariable, TrainingPass } from './step-graph';

/** A stage with the names of the parameters it reads (p0, p1… across the chain) and its dropout site, if any. */
export interface ChainStage {
  stage: Stage;
  params: string[];
  site: number | undefined;
}

/** The stages of `layers` in order, parameters named p0, p1… in their trainable weights' order, or the first gap. */
export function layerChain(layers: readonly tf.layers.Layer[]): ChainStage[] | Unsupported {
  const chain: ChainStage[] = [];
  let params = 0;
  let sites = 0;
  for (const layer of layers) {
    const stages = layerStages(layer);
    if (!Array.isArray(stages)) return stages;
    for (const stage of stages) {
      const names = stage.params.map(() => `p${params++}`);
      chain.push({ stage, params: names, site: stage.dropout === undefined ? undefined : sites++ });
    }
  }
  return chain;
}

/** The parameters the chain reads, in order. */
export function chainParams(chain: readonly ChainStage[]): GraphVariable[] {
  return chain.flatMap((c) => c.stage.params.map((shape, i) => ({ name: c.params[i]!, shape })));
}

/** One stage's forward: what it read and made (for its backward pass). */
interface Pass {
  at: ChainStage;
  input: Out;
  output: Out;
  w: Out[];
  mask: Out | undefined;
}

/** The chain's pass from `x`: with `dropout`, each site's multiplier; without it, none drops out. */
export function runChain(
  b: GraphBuilder,
  chain: readonly ChainStage[],
  x: Out,
  read: (param: string) => Out,
  dropout?: (site: number, input: Out) => Out,
): Pass[] {
  const records: Pass[] = [];
  let a = x;
  for (const at of chain) {
    const w = at.params.map(read);
    const mask = at.site !== undefined && dropout ? dropout(at.site, a) : undefined;
    const output = at.stage.forward(b, a, w, mask);
    records.push({ at, input: a, output, w, mask });
    a = output;
  }
  return records;
}

const last = (records: Pass[], x: Out): Out => records[records.length - 1]?.output ?? x;

/** The gradients of every parameter for logit gradient `dLogits`, back through the recorded pass. */
function backward(b: GraphBuilder, records: Pass[], dLogits: Out): Map<string, { grad: Out; after: Out[] }> {
  const grads = new Map<string, { grad: Out; after: Out[] }>();
  const first = records.findIndex((r) => r.w.length > 0);
  let dy = dLogits;
  for (let i = records.length - 1; i >= first && first >= 0; i--) {
    const { at, input, output, w, mask } = records[i]!;
    const g = at.stage.backward(b, { input, output, dy, w, mask, needDx: i > first });
    g.params.forEach((p, k) => grads.set(at.params[k]!, p));
    if (g.dx) dy = g.dx;
  }
  return grads;
}

/**
 * The graph model of a layers net's export-form model (ml/layers-net.ts: flat pixels in, the topology's layers,
 * then the softmax layer it appends, which the net's logits come before), or the layer that has no stages.
 * Parameters are p0, p1… as Net.params has them (model.trainableWeights order); dropout masks are the graph's own
 * (see the file's comment).
 */
export function layersGraphModel(model: tf.LayersModel, inputSize: number): GraphModel | Unsupported {
  const end = model.layers[model.layers.length - 1];
  if (end?.getClassName() !== 'Activation' || (end.getConfig() as { activation?: unknown }).activation !== 'softmax')
    throw new Error('a layers net whose model does not end with the softmax ml/layers-net.ts appends');
  const chain = layerChain(model.layers.slice(0, -1));
  if (!Array.isArray(chain)) return chain;
  const params = chainParams(chain);
  const expected = model.trainableWeights.map((w) => w.shape.join(','));
  if (params.map((p) => p.shape.join(',')).join(' ') !== expected.join(' '))
    throw new Error('a layers net whose graph parameters are not its trainable weights');
  const sites = chain.filter((c) => c.site !== undefined).map((c) => c.stage.dropout!);
  return {
    params,
    inputSize,
    dropoutRates: sites,
    inference: (b, x, read) => last(runChain(b, chain, x, read), x),
    training(b, x, read, dropout): TrainingPass {
      const records = runChain(b, chain, x, read, dropout);
      return { logits: last(records, x), backward: (dLogits) => backward(b, records, dLogits) };
    },
  };
}
