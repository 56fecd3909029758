/**
 * Exports of stored models in the standard tfjs layers format (float32 or with quantised weights), and the test
 * result of a stored export loaded with tfjs's own loader: exportModel and evaluateExport, bound as activities in
 * activities/compute.ts.
 */
import type { ArtifactStore } from '../storage/artifact-store';
import type { Logger } from '../config/logger';
import { quantizeKindSchema } from '../config/schemas';
import type { DataPlanRef, ModelRef } from '../contracts/exchange';
import type { QuantizeKind } from '../contracts/vocabulary';
import { metrics, predictLogits } from '../ml/evaluate';
import { loadExport } from '../ml/export';
import { invalidInput } from '../data/input-failures';
import { datasetFor } from '../data/sources';
import type { DataAccess } from '../data/sources';
import { parseUserFile } from '../data/user-files';
import { keys, storeLayersModel } from './models';

/** Where an export's files are, and their total size (model.json + weights) in bytes. */
export interface ExportedFiles {
  modelJson: string;
  weights: string;
  exportBytes: number;
}

/**
 * Publishes a model in the standard tfjs layers format under exports/<digest>/, or with `quantize` a copy
 * with quantised weights under exports/<digest>-<quantize>/ (idempotent: a complete export is returned as is).
 */
export async function exportModel(
  deps: { store: ArtifactStore },
  req: {
    model: ModelRef;
    classNames: string[];
    /** Weight quantisation; absent: float32. */
    quantize?: QuantizeKind;
  },
): Promise<ExportedFiles> {
  const { store } = deps;
  const { quantize } = req;
  if (quantize !== undefined && !quantizeKindSchema.options.includes(quantize))
    throw invalidInput(
      `quantize: expected one of ${quantizeKindSchema.options.join(', ')}, ` + `got ${JSON.stringify(quantize)}`,
    );
  const dir = quantize ? keys.quantizedExportDir(req.model.digest, quantize) : keys.exportDir(req.model.digest);
  // model.json is written after the weights, so with it present the export is complete.
  const [json, weights] = await Promise.all([
    store.stat(`${dir}/model.json`),
    store.stat(`${dir}/group1-shard1of1.bin`),
  ]);
  if (json && weights) return { modelJson: json.key, weights: weights.key, exportBytes: json.bytes + weights.bytes };
  const stored = await storeLayersModel(store, req.model, dir, req.classNames, quantize);
  return { modelJson: stored.modelJson, weights: stored.weights, exportBytes: stored.bytes };
}

/** Test-set result of a stored export, and the export's size. */
export interface ExportEvaluation {
  name: string;
  errors: number;
  n: number;
  accuracy: number;
  /** model.json + weight shards, in bytes, as stored. */
  exportBytes: number;
}

/**
 * Test errors of a stored export (float32 or quantised), loaded with tfjs's own loader, which dequantises:
 * what a user of the export gets. Same test images and scaling as evaluateModel.
 */
export async function evaluateExport(
  deps: DataAccess & { store: ArtifactStore; logger: Pick<Logger, 'info'> },
  /** `modelJson`: the store key of the export's model.json. */
  req: { modelJson: string; data: DataPlanRef; name: string },
): Promise<ExportEvaluation> {
  const { store } = deps;
  const suffix = '/model.json';
  if (typeof req.modelJson !== 'string' || !req.modelJson.endsWith(suffix))
    throw invalidInput(
      `modelJson: expected the store key of an export's model.json, ` + `got ${JSON.stringify(req.modelJson)}`,
    );
  const dir = req.modelJson.slice(0, -suffix.length);
  const ds = await datasetFor(req.data, deps);
  let exportBytes = 0;
  // The key comes from the request: whatever is stored there is parsed behind the user-file boundary.
  const where = { field: 'modelJson', file: `minio:${req.modelJson}`, format: 'TensorFlow.js layers model' };
  const model = await parseUserFile(where, () =>
    loadExport(async (file) => {
      const bytes = await store.get(`${dir}/${file}`);
      exportBytes += bytes.length;
      return bytes;
    }),
  );
  try {
    const testIdx = Int32Array.from({ length: ds.test.n }, (_, i) => i);
    const probs = await predictLogits(model, ds.test.images, ds.shape, testIdx);
    const { errors, n, accuracy } = metrics(probs, ds.test.labels, ds.numClasses);
    deps.logger.info({ name: req.name, modelJson: req.modelJson, errors, n, exportBytes }, 'export evaluated');
    return { name: req.name, errors, n, accuracy, exportBytes };
  } finally {
    model.dispose();
  }
}
