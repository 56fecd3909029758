/**
 * Teachers trained elsewhere: TensorFlow SavedModels (tfjs-node's native loader, so the TensorFlow version
 * of the native library decides which load) and TensorFlow.js layers or graph models. Each is wrapped as
 * the same small interface, fed the same pixels as chrysalis's own models (values / 255, channels last), and its
 * output turned into logits the way the config declares it.
 */
import * as tf from '@tensorflow/tfjs';
import type * as TfNode from '@tensorflow/tfjs-node';
import { channelsOf } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';
import { alignedOutputs } from './batches';
import { BackendUnavailableError } from './backend';
import type { Pixels } from './datasets';

/** A teacher that cannot be used as configured (missing signature, output, unsupported input): final. */
export class TeacherLoadError extends Error {
  override readonly name = 'TeacherLoadError';
  /**
   * The config field of the import at fault, relative to the import: "signature", "outputName", or "" for the
   * model itself. @default ''
   */
  constructor(
    message: string,
    readonly field = '',
  ) {
    super(message);
  }
}

/** What the teacher's output holds. */
export type TeacherOutputs = 'logits' | 'probabilities' | 'log-probabilities';

/** A loaded outside teacher: its declared shapes and a forward pass to its raw outputs. */
export interface LoadedTeacher {
  /** Input shape without the batch dimension as the model declares it (null: any size). */
  inputShape: (number | null)[];
  /** Width of the output as declared (null: not declared; checked on the probe's outputs). */
  outputWidth: number | null;
  /** Raw outputs for a float32 batch shaped [batch, ...inputShape]. */
  run(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

/** A tensor dimension as tfjs-node's SavedModel reader gives it (a protobuf Dim) or as a number. */
type Dim = number | null | { getSize(): number };

function dimSize(d: Dim): number | null {
  const n = typeof d === 'object' && d !== null ? d.getSize() : d;
  return n === null || n < 0 ? null : n;
}

function tfNode(): typeof TfNode {
  if (tf.getBackend() !== 'tensorflow')
    throw new BackendUnavailableError(
      `a SavedModel teacher needs the native TensorFlow backend; this worker runs "${tf.getBackend()}"`,
    );
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@tensorflow/tfjs-node') as typeof TfNode;
}

/**
 * Loads a SavedModel directory with the native loader. The signature (default "serving_default") must exist
 * and take one float32 input; the output is `outputName`, or the signature's only output.
 */
export async function loadSavedModelTeacher(
  dir: string,
  opts: { signature?: string | undefined; outputName?: string | undefined },
): Promise<LoadedTeacher & { signature: string; outputName: string }> {
  const node = tfNode().node;
  const signature = opts.signature ?? 'serving_default';
  const metaGraphs = await node.getMetaGraphsFromSavedModel(dir);
  // Bytes that protobuf reads as an empty message (no meta graph) are no SavedModel, whatever the signature asked.
  if (metaGraphs.length === 0) throw new TeacherLoadError('saved_model.pb holds no meta graph: not a SavedModel');
  const meta = metaGraphs.find((m) => m.signatureDefs[signature] !== undefined);
  if (!meta) {
    const have = metaGraphs.flatMap((m) => Object.keys(m.signatureDefs));
    // No signature at all is the file's fault (garbage that parses, a graph saved without serving), not the field's.
    if (have.length === 0) throw new TeacherLoadError('the SavedModel has no signatures: nothing to call');
    throw new TeacherLoadError(
      `the SavedModel has no signature "${signature}" (it has: ${have.join(', ')})`,
      'signature',
    );
  }
  const sig = meta.signatureDefs[signature]!;
  const inputs = Object.entries(sig.inputs);
  if (inputs.length !== 1)
    throw new TeacherLoadError(
      `signature "${signature}" takes ${inputs.length} inputs (${Object.keys(sig.inputs).join(', ')}), not 1`,
    );
  const [inputName, input] = inputs[0]!;
  if (input.dtype !== 'float32')
    throw new TeacherLoadError(`signature "${signature}" input "${inputName}" is ${input.tfDtype}, not float32`);
  const outputNames = Object.keys(sig.outputs);
  const outputName = opts.outputName ?? (outputNames.length === 1 ? outputNames[0]! : undefined);
  if (outputName === undefined || !sig.outputs[outputName])
    throw new TeacherLoadError(
      `signature "${signature}" has ${opts.outputName ? `no output "${opts.outputName}"` : 'several outputs'}` +
        ` (outputs: ${outputNames.join(', ')}); name one with outputName`,
      'outputName',
    );
  const output = sig.outputs[outputName];
  if (output.dtype !== 'float32')
    throw new TeacherLoadError(`output "${outputName}" is ${output.tfDtype}, not float32`, 'outputName');
  const model = await node.loadSavedModel(dir, meta.tags, signature);
  const shape = (input.shape as unknown as Dim[]).map(dimSize);
  const outShape = (output.shape as unknown as Dim[]).map(dimSize);
  return {
    signature,
    outputName,
    inputShape: shape.slice(1),
    outputWidth: outShape.length === 2 ? outShape[1]! : null,
    run: (x) => (model.predict({ [inputName]: x }) as tf.NamedTensorMap)[outputName]!,
    dispose: () => model.dispose(),
  };
}

/** Reads one file of a tfjs model by its path relative to model.json. */
export type ModelFileReader = (relativePath: string) => Promise<Uint8Array>;

/** Loads a TensorFlow.js model (layers or graph format) from model.json and its weight shards. */
export async function loadTfjsTeacher(read: ModelFileReader): Promise<LoadedTeacher & { format: string }> {
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(new TextDecoder().decode(await read('model.json'))) as tf.io.ModelJSON;
  } catch (err) {
    throw new TeacherLoadError(`model.json is not JSON: ${(err as Error).message}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest))
    throw new TeacherLoadError('model.json has no modelTopology or weightsManifest: not a TensorFlow.js model');
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const paths = manifest.flatMap((g) => g.paths);
    const shards = await Promise.all(paths.map(read));
    const specs = manifest.flatMap((g) => g.weights);
    return [specs, tf.io.concatenateArrayBuffers(shards.map((s) => s.slice().buffer))];
  });
  const handler = tf.io.fromMemory(artifacts);
  const isGraph = json.format === 'graph-model' || 'node' in json.modelTopology;
  const model = isGraph ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
  const notFinite = nonFiniteWeight(model);
  if (notFinite !== undefined) {
    model.dispose();
    throw new TeacherLoadError(`weight "${notFinite}" has NaN or infinite values`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    model.dispose();
    throw new TeacherLoadError(
      `the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs, not 1`,
    );
  }
  const shape = (model.inputs[0]!.shape ?? []).map((d) => (d === undefined || d === null || d < 0 ? null : d));
  const outShape = model.outputs[0]!.shape ?? [];
  const width = outShape.length === 2 ? outShape[1] : null;
  return {
    format: isGraph ? 'graph-model' : 'layers-model',
    inputShape: shape.slice(1),
    outputWidth: width === undefined || width === null || width < 0 ? null : width,
    run: (x) => model.predict(x) as tf.Tensor,
    dispose: () => model.dispose(),
  };
}

/** The name of a float weight with a NaN or infinite value, if any: a damaged shard loads, then poisons every logit. */
function nonFiniteWeight(model: tf.GraphModel | tf.LayersModel): string | undefined {
  const weights: [string, tf.Tensor][] =
    model instanceof tf.GraphModel
      ? Object.entries(model.weights).flatMap(([name, ts]) => ts.map((t) => [name, t] as [string, tf.Tensor]))
      : model.weights.map((w) => [w.name, w.read()]);
  return weights.find(
    ([, t]) => t.dtype === 'float32' && tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 0),
  )?.[0];
}

/**
 * How to feed H×W×C images (channels last) to a teacher that declares `shape`: [H·W·C] or [H, W, C], and for
 * grey images also [H, W] (unknown sizes match); undefined when it takes anything else.
 */
export function inputLayout(shape: readonly (number | null)[], image: InputShape): number[] | undefined {
  const [h, w] = image;
  const c = channelsOf(image);
  const layouts = [[h * w * c], [h, w, c], ...(c === 1 ? [[h, w]] : [])];
  return layouts.find((l) => l.length === shape.length && l.every((d, i) => shape[i] === null || shape[i] === d));
}

/** Logits from raw outputs: as they are, or the log of probabilities (clamped at 1e-30 so 0 stays finite). */
export function toLogits(raw: Float32Array, outputs: TeacherOutputs): Float32Array {
  if (outputs !== 'probabilities') return raw;
  return raw.map((p) => Math.log(Math.max(p, 1e-30)));
}

/**
 * The teacher's logits (n × `classes`, row-major) on the images at `indices`, fed in `layout`, in batches.
 * Throws TeacherLoadError when an output is not [count, classes] or not finite.
 */
export async function teacherLogits(
  teacher: LoadedTeacher,
  data: { images: Pixels; side: InputShape; indices: Int32Array; firstRow?: number },
  opts: { layout: number[]; classes: number; outputs: TeacherOutputs; batchSize?: number },
): Promise<Float32Array> {
  const C = opts.classes;
  const batchSize = opts.batchSize ?? 500;
  // Batches of fixed size at fixed rows, as predictLogits runs them (alignedBatches: a block computes the whole's bits).
  const out = await alignedOutputs(data, batchSize, C, (batch) => {
    const y = tf.tidy(() => teacher.run(tf.tensor(batch, [batchSize, ...opts.layout])));
    const shape = y.shape;
    const values = y.dataSync() as Float32Array;
    y.dispose();
    if (shape.length !== 2 || shape[0] !== batchSize || shape[1] !== C)
      throw new TeacherLoadError(
        `output shape [${shape.join(', ')}] for a batch of ${batchSize}, expected [${batchSize}, ${C}] (the data's classes)`,
      );
    return values;
  });
  if (!out.every(Number.isFinite)) throw new TeacherLoadError('the output has NaN or infinite values');
  return toLogits(out, opts.outputs);
}
