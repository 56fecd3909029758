/**
 * The publish protocol: data objects are written and verified first, the manifest that names them last. A reader
 * finds a model only through its manifest, so it never sees a half-written one. Where each object lives is
 * common/store-keys.ts.
 */
import type { InputShape } from '../common/input-shape';
import type { ArtifactRef, ArtifactStore } from '../storage/artifact-store';
import { getJson, putJson, verify } from '../storage/artifact-store';
import { decodeTensors, encodeTensors } from '../storage/tensor-codec';
import type { RawTensor } from '../common/raw-tensor';
import type { Net } from '../ml/models';
import { exportLayersModel } from '../ml/export';
import type { ExportedModel } from '../ml/export';
import { quantizeExport } from '../ml/quantize';
import type { Dataset } from '../ml/datasets';
import { describeInput } from '../ml/normalize';
import type { Normalization } from '../common/normalization';
import { buildNet, exportWeights, importWeights } from '../ml/models';
import type { BuildOptions } from '../ml/models';
import { buildLayersNet } from '../ml/layers-net';
import type { Plan } from '../ml/splits';
import type { TrainSnapshot } from '../ml/train';
import type { LayersSpecInput, ModelSpecInput } from '../config/schemas';
import type { QuantizeKind } from '../contracts/vocabulary';
import type { ModelRef } from '../contracts/exchange';
import { keys } from '../common/store-keys';
import { partialModelDigest } from './digests';

/** Re-exported for the activities that import the key builders from here. */
export { keys } from '../common/store-keys';

export async function savePlan(store: ArtifactStore, digest: string, plan: Plan): Promise<ArtifactRef> {
  const key = keys.plan(digest);
  const existing = await store.stat(key);
  if (existing) return existing;
  return store.put(
    key,
    encodeTensors({
      train: { dtype: 'int32', shape: [plan.train.length], data: plan.train },
      validation: { dtype: 'int32', shape: [plan.validation.length], data: plan.validation },
      transfer: { dtype: 'int32', shape: [plan.transfer.length], data: plan.transfer },
    }),
  );
}

const planCache = new Map<string, Plan>();

/** Plans are immutable and content-addressed, so a per-process cache keyed by digest is safe. */
export async function loadPlan(store: ArtifactStore, ref: ArtifactRef): Promise<Plan> {
  const hit = planCache.get(ref.sha256);
  if (hit) return hit;
  const t = decodeTensors(await store.get(ref));
  const plan = {
    train: t['train']!.data as Int32Array,
    validation: t['validation']!.data as Int32Array,
    transfer: t['transfer']!.data as Int32Array,
  };
  planCache.set(ref.sha256, plan);
  return plan;
}

export interface ModelManifest {
  kind: 'chrysalis-model';
  version: 1;
  digest: string;
  spec: ModelSpecInput;
  numClasses: number;
  inputShape: InputShape;
  /** How inputs were made from raw data, when not uint8 pixels / 255: exports and `predict` apply the same. */
  input?: ModelInput;
  weights: ArtifactRef;
  /** Free-form provenance: role, data plan, training config, backend, history. */
  provenance: Record<string, unknown>;
}

/** A model's input, beyond its shape: the normalisation its data declared, a table's feature columns. */
export interface ModelInput {
  normalization?: Normalization;
  features?: string[];
}

/** What a dataset says of its models' input ({@link ModelInput}); undefined for plain uint8 pixels / 255. */
export function modelInputOf(ds: Pick<Dataset, 'normalization' | 'features'>): ModelInput | undefined {
  if (!ds.normalization && !ds.features) return undefined;
  return {
    ...(ds.normalization ? { normalization: ds.normalization } : {}),
    ...(ds.features ? { features: ds.features } : {}),
  };
}

/**
 * Publishes a trained net under its recipe's digest; with `at.epoch`, as the partial model of a run
 * stopped after that epoch (models/<digest>/epoch-<k>/, named by {@link partialModelDigest}).
 */
export async function publishModel(
  store: ArtifactStore,
  at: string | { digest: string; epoch?: number | undefined },
  net: Net,
  inputShape: InputShape,
  provenance: Record<string, unknown>,
  input?: ModelInput,
): Promise<ModelRef> {
  const { digest, epoch } = typeof at === 'string' ? { digest: at, epoch: undefined } : at;
  const dir = epoch === undefined ? keys.modelDir(digest) : keys.partialModelDir(digest, epoch);
  const weights = await store.put(`${dir}/weights.cht`, encodeTensors(exportWeights(net)));
  const manifest: ModelManifest = {
    kind: 'chrysalis-model',
    version: 1,
    digest: epoch === undefined ? digest : partialModelDigest(digest, epoch),
    spec: net.spec,
    numClasses: net.numClasses,
    inputShape,
    ...(input ? { input } : {}),
    weights,
    provenance,
  };
  const manifestRef = await putJson(store, `${dir}/manifest.json`, manifest);
  return { digest: manifest.digest, manifest: manifestRef, weights, spec: manifest.spec, numClasses: net.numClasses };
}

/** The published model with this digest (with `epoch`: its partial model), or undefined if none was completed. */
export async function findModel(store: ArtifactStore, digest: string, epoch?: number): Promise<ModelRef | undefined> {
  const dir = epoch === undefined ? keys.modelDir(digest) : keys.partialModelDir(digest, epoch);
  return modelAt(store, `${dir}/manifest.json`);
}

/** The model whose manifest is stored at this key, or undefined if there is none. */
export async function modelAt(store: ArtifactStore, manifestKey: string): Promise<ModelRef | undefined> {
  const manifestRef = await store.stat(manifestKey);
  if (!manifestRef) return undefined;
  const m = await readManifest(store, manifestRef);
  return { digest: m.digest, manifest: manifestRef, weights: m.weights, spec: m.spec, numClasses: m.numClasses };
}

export async function readManifest(store: ArtifactStore, manifest: ArtifactRef | string): Promise<ModelManifest> {
  const m = await getJson<ModelManifest>(store, manifest);
  const key = typeof manifest === 'string' ? manifest : manifest.key;
  if (m.kind !== 'chrysalis-model') throw new Error(`${key} is not a chrysalis model manifest`);
  return m;
}

/** A stored model in the layers format, in memory, its weights quantised to `quantize` if given. */
export async function layersExport(
  store: ArtifactStore,
  model: ModelRef,
  classNames: string[],
  quantize?: QuantizeKind,
): Promise<ExportedModel & { inputShape: InputShape; input?: ModelInput }> {
  const manifest = await readManifest(store, model.manifest.key);
  const net = await loadNet(store, manifest);
  try {
    const input = manifest.input;
    const float32 = await exportLayersModel(net, manifest.inputShape, {
      chrysalisModel: model.digest,
      classNames,
      inputShape: manifest.inputShape,
      ...(input ? { input: describeInput(manifest.inputShape, input.normalization, input.features), ...input } : {}),
    });
    const exported = quantize ? quantizeExport(float32, quantize) : float32;
    return { ...exported, inputShape: manifest.inputShape, ...(input ? { input } : {}) };
  } finally {
    net.dispose();
  }
}

/**
 * Writes {@link layersExport} to `<dir>/`: the weights shard first, model.json (which names it) last.
 * Returns both keys, their total size in bytes and the model's input shape.
 */
export async function storeLayersModel(
  store: ArtifactStore,
  model: ModelRef,
  dir: string,
  classNames: string[],
  quantize?: QuantizeKind,
): Promise<{ modelJson: string; weights: string; bytes: number; inputShape: InputShape; input?: ModelInput }> {
  const out = await layersExport(store, model, classNames, quantize);
  const weights = await store.put(`${dir}/${out.weightsFile}`, out.weights);
  const modelJson = await putJson(store, `${dir}/model.json`, out.modelJson);
  const bytes = weights.bytes + modelJson.bytes;
  const input = out.input ? { input: out.input } : {};
  return { modelJson: modelJson.key, weights: weights.key, bytes, inputShape: out.inputShape, ...input };
}

/** The stored model `model` as a net with its verified weights (its manifest read first). */
export async function loadModelNet(store: ArtifactStore, model: ModelRef): Promise<Net> {
  return loadNet(store, await readManifest(store, model.manifest.key));
}

/** Builds the net described by a manifest and loads its verified weights. */
export async function loadNet(store: ArtifactStore, manifest: ModelManifest): Promise<Net> {
  const net = await createNet(store, manifest.spec, {
    inputShape: manifest.inputShape,
    numClasses: manifest.numClasses,
    seed: 0,
  });
  try {
    importWeights(net, decodeTensors(await store.get(manifest.weights)));
  } catch (err) {
    net.dispose();
    throw err;
  }
  return net;
}

/** A freshly initialised net of any architecture; a layers topology is read from the store by its sha256. */
export async function createNet(store: ArtifactStore, spec: ModelSpecInput, opts: BuildOptions): Promise<Net> {
  if (spec.kind !== 'layers') return buildNet(spec, opts);
  return buildLayersNet(spec, await loadTopology(store, spec), opts);
}

/** The parsed model.json of a fetched layers spec, its bytes checked against the spec's sha256. */
export async function loadTopology(store: ArtifactStore, spec: LayersSpecInput): Promise<unknown> {
  if (!spec.sha256) throw new Error(`layers spec ${spec.topology} has no sha256: importStudent fetches it first`);
  const key = keys.studentTopology(spec.sha256);
  return JSON.parse(new TextDecoder().decode(verify(key, await store.get(key), spec.sha256)));
}

export async function saveCheckpoint(store: ArtifactStore, digest: string, snap: TrainSnapshot): Promise<ArtifactRef> {
  const tensors: Record<string, RawTensor> = {};
  for (const [k, v] of Object.entries(snap.weights)) tensors[`w/${k}`] = v;
  for (const [k, v] of Object.entries(snap.optimizer)) tensors[`o/${k}`] = v;
  const position = snap.position ? { position: snap.position } : {};
  const meta = new TextEncoder().encode(JSON.stringify({ epoch: snap.epoch, ...position, history: snap.history }));
  tensors['meta'] = { dtype: 'uint8', shape: [meta.length], data: meta };
  return store.put(keys.checkpoint(digest, snap.epoch, snap.position?.window), encodeTensors(tensors));
}

export async function loadCheckpoint(store: ArtifactStore, ref: ArtifactRef | string): Promise<TrainSnapshot> {
  const t = decodeTensors(await store.get(ref));
  const weights: Record<string, RawTensor> = {};
  const optimizer: Record<string, RawTensor> = {};
  for (const [k, v] of Object.entries(t)) {
    if (k.startsWith('w/')) weights[k.slice(2)] = v;
    else if (k.startsWith('o/')) optimizer[k.slice(2)] = v;
  }
  const meta = JSON.parse(new TextDecoder().decode(t['meta']!.data)) as Pick<
    TrainSnapshot,
    'epoch' | 'position' | 'history'
  >;
  const position = meta.position ? { position: meta.position } : {};
  return { epoch: meta.epoch, ...position, history: meta.history, weights, optimizer };
}
