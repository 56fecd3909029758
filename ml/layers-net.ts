/**
 * A student of your own: a TensorFlow.js layers topology (model.json, a Sequential model) trained by chrysalis's
 * loop as a {@link Net}, like the built-in MLP and CNN. What is done to the topology:
 *
 * - Weights the file may name are ignored. Every random initialiser (Glorot, He, LeCun, variance scaling,
 *   random normal/uniform, truncated normal, orthogonal) is given a seed derived from the net's seed, the layer's
 *   position and the weight, so one seed gives the same initial weights in every process; deterministic ones
 *   (zeros, ones, constant, identity) stay as they are.
 * - Inputs arrive as chrysalis feeds every model: flattened HWC pixels / 255. Unless the topology takes that
 *   vector itself, a Reshape layer to what it declares ([H, W, C], or [H, W] for grey data) comes first.
 * - `forward` returns logits, which the distillation loss needs at temperature T: a final softmax (the last
 *   layer's activation, or a trailing Softmax/Activation layer) is taken off, and a last layer with a linear
 *   activation is read as logits. A softmax layer then ends the model again, so the export (`exportModel`) is the
 *   topology with a softmax output, as the built-in students' exports are.
 * - Dropout layers draw a fresh mask every batch from the training loop's seeded Rng (their seed is set before
 *   each training pass), so a run resumed from a checkpoint replays exactly.
 *
 * Refused, as {@link TopologyError}: a graph model or a file without a topology, a non-Sequential model, a layer
 * outside {@link SUPPORTED_LAYERS}, weights that are not trainable (BatchNormalization's moving statistics: a
 * checkpoint holds the trainable weights only), regularizers and constraints (the loop does not apply them), an
 * input that does not take the data's images, an output that is not [batch, classes], and a final activation
 * other than softmax or linear.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelSize } from '../config/model-size';
import { inputSizeOf } from '../common/input-shape';
import { inputLayout } from './imported-teacher';
import type { BuildOptions, LayersSpec, Net } from './models';
import { Rng, deriveSeed } from './rng';

/** A topology chrysalis cannot train as given; the message says what and why. */
export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

/** Layers whose every weight is trainable and whose pass depends on nothing but `training`. */
export const SUPPORTED_LAYERS: readonly string[] = [
  'InputLayer',
  'Dense',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Flatten',
  'Reshape',
  'Permute',
  'ZeroPadding2D',
  'Dropout',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'Softmax',
  'LayerNormalization',
];

const RANDOM_INITIALIZERS = new Set([
  'RandomUniform',
  'RandomNormal',
  'TruncatedNormal',
  'VarianceScaling',
  'GlorotUniform',
  'GlorotNormal',
  'HeNormal',
  'HeUniform',
  'LeCunNormal',
  'LeCunUniform',
  'Orthogonal',
]);

/** One layer of a Sequential topology, in the pythonic (Keras) JSON form. */
interface LayerJson {
  class_name: string;
  config: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The Sequential topology of a parsed model.json, checked layer by layer before anything is built. */
function sequentialTopology(modelJson: unknown): Json {
  if (!isObject(modelJson)) throw new TopologyError('model.json is not a JSON object');
  const top = modelJson['modelTopology'];
  if (modelJson['format'] === 'graph-model' || (isObject(top) && 'node' in top))
    throw new TopologyError(
      'a graph model has no layers to train: give a layers model.json (tf.LayersModel.save, or ' +
        'tensorflowjs_converter --output_format tfjs_layers_model)',
    );
  if (!isObject(top)) throw new TopologyError('model.json has no modelTopology: not a TensorFlow.js layers model');
  const topo = isObject(top['model_config']) ? top['model_config'] : top;
  if (topo['class_name'] !== 'Sequential')
    throw new TopologyError(
      `only Sequential topologies can be trained; this one is a ${JSON.stringify(topo['class_name'])} model`,
    );
  const config = topo['config'];
  const layers = Array.isArray(config) ? config : isObject(config) ? config['layers'] : undefined;
  if (!Array.isArray(layers) || layers.length === 0) throw new TopologyError('the Sequential model has no layers');
  layers.forEach(checkLayer);
  return topo;
}

/** Refuses a layer the loop cannot train or checkpoint exactly, naming it. */
function checkLayer(layer: unknown, i: number): void {
  if (!isObject(layer) || typeof layer['class_name'] !== 'string' || !isObject(layer['config']))
    throw new TopologyError(`layer ${i} is not a {class_name, config} object`);
  const cls = layer['class_name'];
  const name = layer['config']['name'];
  const at = `layer ${i} (${cls}${typeof name === 'string' ? ` "${name}"` : ''})`;
  if (cls === 'BatchNormalization')
    throw new TopologyError(
      `${at}: BatchNormalization keeps moving statistics, which are not trainable weights and are not ` +
        'checkpointed; use LayerNormalization or remove it',
    );
  if (!SUPPORTED_LAYERS.includes(cls))
    throw new TopologyError(`${at} is not supported; supported layers: ${SUPPORTED_LAYERS.join(', ')}`);
  for (const [key, value] of Object.entries(layer['config']))
    if ((key.endsWith('_regularizer') || key.endsWith('_constraint')) && value !== null && value !== undefined)
      throw new TopologyError(`${at}: ${key} is not applied by chrysalis's training loop; remove it`);
}

/** A model built from a topology alone: fresh weights (a weights manifest is never passed). */
function fromTopology(topo: Json): Promise<tf.LayersModel> {
  return tf.models.modelFromJSON({ modelTopology: topo } as unknown as tf.io.ModelJSON);
}

/** The topology as tfjs serialises it once built (Keras quirks normalised), with its input and output shapes. */
async function canonical(topo: Json): Promise<{ layers: LayerJson[]; input: (number | null)[]; output: number[] }> {
  let model: tf.LayersModel;
  try {
    model = await fromTopology(topo);
  } catch (err) {
    throw new TopologyError(`TensorFlow.js cannot build this topology: ${(err as Error).message}`);
  }
  try {
    if (!model.inputs?.[0] || !model.outputs?.[0])
      throw new TopologyError('the topology declares no input shape (batch_input_shape of its first layer)');
    const json = model.toJSON(null, false) as unknown as { config: { layers: LayerJson[] } };
    const dims = (s: (number | null)[]) => s.slice(1).map((d) => (d === null || d < 0 ? null : d));
    return {
      layers: json.config.layers.filter((l) => l.class_name !== 'InputLayer'),
      input: dims(model.inputs[0].shape),
      output: model.outputs[0].shape.map((d) => d ?? -1),
    };
  } finally {
    model.dispose();
  }
}

const shapeText = (s: readonly (number | null)[]) => `[${s.map((d) => (d === null || d < 0 ? '?' : d)).join(', ')}]`;

/** The feed layout for the data's images; a topology that takes something else fails naming both shapes. */
function layoutFor(input: (number | null)[], opts: BuildOptions): number[] {
  const layout = inputLayout(input, opts.inputShape);
  if (layout) return layout;
  const [h, w, c = 1] = opts.inputShape;
  const accepted = [[h * w * c], [h, w, c], ...(c === 1 ? [[h, w]] : [])];
  throw new TopologyError(
    `input shape ${shapeText(input)} does not match the data's images [${opts.inputShape.join(', ')}] ` +
      `(a student may take ${accepted.map(shapeText).join(' or ')})`,
  );
}

/** The layers with the final softmax taken off (logits out); a final activation other than linear is refused. */
function withoutSoftmax(layers: LayerJson[]): LayerJson[] {
  const last = layers[layers.length - 1]!;
  const activation = last.config['activation'];
  if (last.class_name === 'Softmax' || (last.class_name === 'Activation' && activation === 'softmax'))
    return layers.slice(0, -1);
  if (activation === 'softmax')
    return [...layers.slice(0, -1), { ...last, config: { ...last.config, activation: 'linear' } }];
  if (last.class_name === 'Activation' || (activation !== undefined && activation !== 'linear'))
    throw new TopologyError(
      `the last layer's activation is ${JSON.stringify(activation ?? last.class_name)}: it must be softmax ` +
        '(probabilities) or linear (logits), which chrysalis turns into logits for the distillation loss',
    );
  return layers;
}

/** The layer's random initialisers seeded from the net's seed, its position and the weight. */
function seeded(layer: LayerJson, i: number, seed: number): LayerJson {
  const config: Json = {};
  for (const [key, value] of Object.entries(layer.config)) {
    if (key === 'batch_input_shape' || key === 'batch_size') continue; // the first layer after ours
    const random =
      key.endsWith('_initializer') && isObject(value) && RANDOM_INITIALIZERS.has(String(value['class_name']));
    config[key] = random
      ? { ...value, config: { ...(value['config'] as Json), seed: deriveSeed(seed, `init/${i}/${key}`) } }
      : value;
  }
  return { class_name: layer.class_name, config };
}

/** `base`, or base_1, base_2 … whichever no layer has. */
function freeName(layers: LayerJson[], base: string): string {
  const taken = new Set(layers.map((l) => l.config['name']));
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  return name;
}

/** The topology in export form: [flat pixels → Reshape], its layers (logits out), then a softmax. */
function exportTopology(layers: LayerJson[], layout: number[], size: number): Json {
  const flat = [{ dtype: 'float32', batch_input_shape: [null, size] }];
  const reshape: LayerJson[] =
    layout.length === 1
      ? []
      : [{ class_name: 'Reshape', config: { target_shape: layout, name: freeName(layers, 'image'), ...flat[0] } }];
  const body =
    reshape.length > 0 ? layers : [{ ...layers[0]!, config: { ...layers[0]!.config, ...flat[0] } }, ...layers.slice(1)];
  const softmax = {
    class_name: 'Activation',
    config: { activation: 'softmax', name: freeName(layers, 'probabilities') },
  };
  return { class_name: 'Sequential', config: { name: 'student', layers: [...reshape, ...body, softmax] } };
}

/**
 * Builds a freshly initialised net from a parsed layers model.json; see the file's comment for what is done to
 * it and what is refused. `spec` is recorded on the net as it is.
 */
export async function buildLayersNet(spec: LayersSpec, modelJson: unknown, opts: BuildOptions): Promise<Net> {
  const { layers, input, output } = await canonical(sequentialTopology(modelJson));
  const layout = layoutFor(input, opts);
  if (output.length !== 2 || output[1] !== opts.numClasses)
    throw new TopologyError(
      `output shape ${shapeText(output.slice(1).length === 1 ? [null, output[1]!] : output)} does not match ` +
        `the data's ${opts.numClasses} classes ([?, ${opts.numClasses}])`,
    );
  const body = withoutSoftmax(layers).map((l, i) => seeded(l, i, opts.seed));
  if (body.length === 0) throw new TopologyError('the topology has no layer before its softmax');
  const size = inputSizeOf(opts.inputShape);
  const model = (await fromTopology(exportTopology(body, layout, size))) as tf.Sequential;
  if (model.nonTrainableWeights.length > 0) {
    const names = model.nonTrainableWeights.map((w) => w.originalName).join(', ');
    model.dispose();
    throw new TopologyError(`weights that are not trainable (${names}) cannot be checkpointed; make them trainable`);
  }
  return assembleLayersNet(spec, model, opts);
}

/** The net over a built export-form model: parameters p0, p1 … in layer order, logits before the softmax. */
function assembleLayersNet(spec: LayersSpec, model: tf.Sequential, opts: BuildOptions): Net {
  const logitsModel = tf.model({ inputs: model.inputs, outputs: model.layers[model.layers.length - 2]!.output });
  const params = new Map(model.trainableWeights.map((w, i) => [`p${i}`, w.read() as tf.Variable]));
  const dropouts = model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { seed?: number }[];
  const rng = new Rng(opts.seed);
  return {
    spec,
    inputShape: opts.inputShape,
    inputSize: inputSizeOf(opts.inputShape),
    numClasses: opts.numClasses,
    params,
    forward(x, o = {}) {
      const training = o.training ?? false;
      // tfjs's Dropout draws its mask from the layer's seed: a new one per batch, from the loop's Rng.
      if (training) for (const d of dropouts) d.seed = (o.rng ?? rng).seed();
      return tf.tidy(() => logitsModel.apply(x, { training }) as tf.Tensor2D);
    },
    applyConstraints() {},
    exportModel: model,
    dispose() {
      model.dispose();
    },
  };
}

/** Parameters and per-batch activation memory of a built layers net, as config/model-size.ts estimates them. */
export function layersNetSize(net: Net, batchSize: number): ModelSize {
  const model = net.exportModel;
  if (!model) throw new Error('layersNetSize: not a layers net');
  let units = net.inputSize;
  for (const layer of model.layers) {
    const shape = layer.outputShape as number[];
    units += shape.slice(1).reduce((a, d) => a * d, 1);
  }
  const parameters = [...net.params.values()].reduce((a, v) => a + v.size, 0);
  return { parameters, activationBytes: 2 * 4 * batchSize * units };
}
