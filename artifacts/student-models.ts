/**
 * A student architecture of your own (`student.model: { kind: "layers", topology }`), imported before anything
 * trains: its model.json is fetched once (a local path under a data root, `minio:<key>` or an http(s) URL, as
 * teachers are), built against the data's images and classes, sized against the worker's limits, and stored
 * under the sha256 of its bytes (`imports/<sha256>/files/model.json`). The spec that leaves carries that sha256:
 * it names the student in every model digest, and workers read the topology from the store by it.
 */
import type { ModelLimits } from '../config/model-size';
import { DEFAULT_MODEL_LIMITS, modelSizeProblem, sizeProblem } from '../config/model-size';
import type { LayersSpecInput, ModelSpecInput } from '../config/schemas';
import { buildLayersNet, layersNetSize, TopologyError } from '../ml/layers-net';
import type { BuildOptions, Net } from '../ml/models';
import { buildNet, paramCount } from '../ml/models';
import type { ArtifactStore } from '../storage/artifact-store';
import { sha256Hex } from '../storage/hash';
import { loadTopology } from './models';
import { datasetFor } from '../data/sources';
import { invalidInput } from '../data/input-failures';
import { parseUserFile } from '../data/user-files';
import type { UserFile } from '../data/user-files';
import { fetchFiles, saveFiles } from './import-files';
import type { ImportDeps } from './import-files';
import type { DataPlanRef } from '../contracts/exchange';

export interface StudentImportDeps extends ImportDeps {
  /** @default DEFAULT_MODEL_LIMITS */
  limits?: ModelLimits;
}

/** A layers spec once its file is fetched: the sha256 of the model.json's bytes is known. */
export type ImportedLayersSpec = LayersSpecInput & { sha256: string };

export interface ImportStudentRequest {
  spec: LayersSpecInput;
  data: DataPlanRef;
  /** The student's training batch size, for the activation-memory limit. */
  batchSize: number;
  /** The config field of the spec, for messages. @default 'student.model' */
  field?: string;
}

/** Where the net must fit, and what to name in messages. */
interface NetCheck {
  batchSize: number;
  limits?: ModelLimits | undefined;
  /** The config field of the spec ("student.model"). */
  field: string;
}

/** The model.json parsed; a file that is not JSON fails naming the field and the file. */
function parseTopology(bytes: Uint8Array, where: UserFile): unknown {
  return parseUserFile(where, () => {
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    } catch (err) {
      throw new TopologyError(`model.json is not JSON: ${(err as Error).message}`);
    }
  });
}

/** A layers net built and sized; what it cannot be fails as InvalidInput naming `<field>.topology`. */
async function checkedLayersNet(
  spec: LayersSpecInput,
  modelJson: unknown,
  opts: BuildOptions,
  check: NetCheck,
): Promise<Net> {
  // Whatever building from the user's topology throws is the topology's fault (a TypeError from a mistyped field too).
  const where = { field: `${check.field}.topology`, file: spec.topology, format: 'TensorFlow.js layers model.json' };
  const net = await parseUserFile(where, () => buildLayersNet(spec, modelJson, opts));
  const shape = { inputShape: opts.inputShape, numClasses: opts.numClasses, batchSize: check.batchSize };
  const tooBig = sizeProblem(layersNetSize(net, check.batchSize), shape, check.limits ?? DEFAULT_MODEL_LIMITS);
  if (tooBig) {
    net.dispose();
    throw invalidInput(`${check.field}: ${tooBig}`);
  }
  return net;
}

/**
 * A fresh net for training, refused if it does not fit the limits: a built-in spec by its size estimate, before
 * anything is allocated; a layers topology (read from the store) once built.
 */
export async function sizedNet(
  store: ArtifactStore,
  spec: ModelSpecInput,
  opts: BuildOptions,
  check: NetCheck,
): Promise<Net> {
  if (spec.kind === 'layers') return checkedLayersNet(spec, await loadTopology(store, spec), opts, check);
  const shape = { inputShape: opts.inputShape, numClasses: opts.numClasses, batchSize: check.batchSize };
  const tooBig = modelSizeProblem(spec, shape, check.limits ?? DEFAULT_MODEL_LIMITS);
  if (tooBig) throw invalidInput(`${check.field}: ${tooBig}`);
  return buildNet(spec, opts);
}

/** Fetches, checks and stores a layers student for one data plan; returns its spec with the sha256. */
export async function importStudent(
  deps: StudentImportDeps,
  req: ImportStudentRequest,
): Promise<{ spec: ImportedLayersSpec; parameters: number }> {
  const field = req.field ?? 'student.model';
  const files = await fetchFiles(deps, { kind: 'topology', path: req.spec.topology }, `${field}.topology`);
  const bytes = files.get('model.json')!;
  const sha256 = sha256Hex(bytes);
  if (req.spec.sha256 !== undefined && req.spec.sha256 !== sha256)
    throw invalidInput(`${field}.sha256: ${req.spec.topology} has sha256 ${sha256}, not the pinned ${req.spec.sha256}`);
  const spec = { ...req.spec, sha256 };
  const ds = await datasetFor(req.data, deps);
  const opts = { inputShape: ds.shape, numClasses: ds.numClasses, seed: 0 };
  const check = { batchSize: req.batchSize, limits: deps.limits, field };
  const where = { field: `${field}.topology`, file: req.spec.topology, format: 'TensorFlow.js layers model.json' };
  const net = await checkedLayersNet(spec, parseTopology(bytes, where), opts, check);
  const parameters = paramCount(net);
  net.dispose();
  await saveFiles(deps.store, sha256, 'topology', files);
  deps.logger.info({ field, topology: req.spec.topology, sha256, parameters }, 'student topology imported');
  return { spec, parameters };
}
