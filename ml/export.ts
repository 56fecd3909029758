/**
 * Export to the standard TensorFlow.js layers format (model.json + one weights shard), loadable with
 * plain @tensorflow/tfjs in Node or a browser, without chrysalis. The exported model ends in a
 * softmax (probabilities at T = 1) and takes flattened images (HWC) scaled to [0, 1].
 */
import { channelsOf, inputSizeOf } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';
import * as tf from '@tensorflow/tfjs';
import { layersInference } from './compiled-inference';
import type { Net } from './models';
import type { PackageReader } from './specialists/combination-loader.mjs' with { 'resolution-mode': 'import' };

export interface ExportedModel {
  /** Contents of model.json. */
  modelJson: Record<string, unknown>;
  /** Contents of the weights file named in modelJson.weightsManifest. */
  weights: Uint8Array;
  weightsFile: string;
}

/** Rebuilds a built-in `net` as a tf.Sequential with the same weights (a layers net has its own: exportModel). */
export function toLayersModel(net: Net, inputShape: InputShape): tf.Sequential {
  if (net.spec.kind === 'layers') throw new Error('toLayersModel: a layers net exports its own exportModel');
  const [h, w] = inputShape;
  const size = inputSizeOf(inputShape);
  const p = (name: string) => net.params.get(name)!;
  const model = tf.sequential();
  const weights: tf.Tensor[] = [];
  if (net.spec.kind === 'mlp') {
    const sizes = [...net.spec.hidden, net.numClasses];
    sizes.forEach((units, i) => {
      const last = i === sizes.length - 1;
      model.add(
        tf.layers.dense({
          units,
          activation: last ? 'softmax' : 'relu',
          ...(i === 0 ? { inputShape: [size] } : {}),
          name: last ? 'probabilities' : `dense_${i}`,
        }),
      );
      weights.push(p(`w${i}`), p(`b${i}`));
    });
  } else {
    const spec = net.spec;
    model.add(tf.layers.reshape({ targetShape: [h, w, channelsOf(inputShape)], inputShape: [size], name: 'image' }));
    spec.filters.forEach((filters, i) => {
      model.add(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', name: `conv_${i}` }));
      model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `pool_${i}` }));
      weights.push(p(`conv${i}`), p(`convb${i}`));
    });
    model.add(tf.layers.flatten({ name: 'flatten' }));
    model.add(tf.layers.dense({ units: spec.dense, activation: 'relu', name: 'dense' }));
    model.add(tf.layers.dense({ units: net.numClasses, activation: 'softmax', name: 'probabilities' }));
    weights.push(p('dense'), p('denseb'), p('out'), p('outb'));
  }
  model.setWeights(weights);
  return model;
}

/** Serialises `net` in the layers format, with chrysalis metadata (class names, input convention). */
export async function exportLayersModel(
  net: Net,
  inputShape: InputShape,
  metadata: Record<string, unknown>,
): Promise<ExportedModel> {
  // A layers net's export model holds its parameters: saved as it is, disposed with the net.
  const model = net.exportModel ?? toLayersModel(net, inputShape);
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (model !== net.exportModel) model.dispose();
  const a = artifacts!;
  const weightsFile = 'group1-shard1of1.bin';
  const data =
    a.weightData instanceof ArrayBuffer
      ? new Uint8Array(a.weightData)
      : new Uint8Array(tf.io.concatenateArrayBuffers(a.weightData as ArrayBuffer[]));
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
      convertedBy: 'chrysalis',
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: [weightsFile], weights: a.weightSpecs }],
      userDefinedMetadata: {
        input:
          channelsOf(inputShape) === 1
            ? 'float32 [batch, rows*cols], grey pixels / 255'
            : 'float32 [batch, rows*cols*channels], pixels / 255, channels interleaved (HWC)',
        output: 'class probabilities (softmax at T = 1)',
        ...metadata,
      },
    },
    weights: data,
    weightsFile,
  };
}

/** An exported model loaded back: a forward pass to probabilities (its softmax output), as ml/evaluate runs it. */
export type LoadedExport = Pick<Net, 'forward' | 'inputSize' | 'numClasses' | 'dispose'>;

/**
 * Loads an export (model.json and its shards, read through `read`) with tfjs's own loader, which dequantises
 * quantised weights: the model exactly as a user of the export gets it.
 */
export async function loadExport(read: PackageReader): Promise<LoadedExport> {
  const { loadLayers } = await import('./specialists/combination-loader.mjs');
  const model = await loadLayers(tf, read);
  const size = (t: tf.SymbolicTensor) => t.shape[t.shape.length - 1] ?? 0;
  // One TensorFlow call per batch where its layers have a graph (ml/compiled-inference.ts), else tfjs's predict.
  const inference = layersInference(model);
  return {
    inputSize: size(model.inputs[0]!),
    numClasses: size(model.outputs[0]!),
    forward: (x) => inference.forward(x),
    dispose: () => {
      inference.dispose();
      model.dispose();
    },
  };
}
