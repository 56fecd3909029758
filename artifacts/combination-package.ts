/**
 * Export of a generalist + specialists combination as one self-contained package under
 * `exports/<combination digest>/`: every model in the TensorFlow.js layers format, combination.json
 * (subsets, combination options, class names, the measured test accuracy), the loader that performs
 * the KL combination (`loader.mjs`, compiled from ml/specialists/combination-loader.mts) and a README.
 * Idempotent: combination.json is written last, so its presence means the package is complete.
 */
import { inputSizeOf } from '../common/input-shape';
import type { InputShape } from '../common/input-shape';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import type { CombinationManifest } from '../ml/specialists/combination-loader.mjs' with {
  'resolution-mode': 'import',
};
import { keys } from '../common/store-keys';
import { storeLayersModel } from './models';
import type { ModelInput } from './models';
import { describeInput } from '../ml/normalize';
import type { Normalization } from '../common/normalization';
import type { ExportCombinationRequest, ExportedCombination } from '../contracts/specialists';
import type { ModelRef } from '../contracts/exchange';

/** The package's manifest: the loader's fields plus provenance. */
export interface CombinationPackageManifest extends CombinationManifest {
  loader: 'loader.mjs';
  createdBy: 'chrysalis';
  combinationKey: string;
  input: string;
  /** The generalist's (and every specialist's) input normalisation, when its data declared one. */
  normalization?: Normalization;
  /** A table's feature columns, in input order. */
  features?: string[];
  generalist: { path: string; digest: string };
  specialists: { name: string; subset: number[]; path: string; digest: string; classNames: string[] }[];
  evaluation: ExportCombinationRequest['evaluation'];
}

/** The compiled loader, without its source-map comment (the map is not shipped). */
export function loaderSource(): string {
  const file = path.join(__dirname, '../ml/specialists/combination-loader.mjs');
  return readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
}

function readme(m: CombinationPackageManifest): string {
  const e = m.evaluation;
  const inputSize = inputSizeOf(m.inputShape);
  return `# chrysalis generalist + specialists package

A generalist and ${m.specialists.length} specialists (Hinton, Vinyals & Dean 2015, §5), combined at inference by
minimising KL(p_g ‖ q) + Σ KL(p_m ‖ q^m) over the specialists whose classes are among the generalist's
top ${m.combine.topN}. Measured on the ${e.dataset} test set: ${e.combinedErrors} / ${e.testExamples} errors combined,
${e.generalistErrors} for the generalist alone.

Input: ${m.input}, shape [n, ${inputSize}]. Classes: ${m.classNames.join(', ')}.

| specialist | classes |
|---|---|
${m.specialists.map((s) => `| ${s.name} | ${s.classNames.join(', ')} |`).join('\n')}

## Use (Node, with nothing but @tensorflow/tfjs)

\`\`\`js
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { loadCombination } from './loader.mjs';

const dir = new URL('./', import.meta.url); // this package's directory (here: the script sits in it)
const model = await loadCombination(tf, (file) => readFile(new URL(file, dir)));
const { probabilities, active } = await model.predict(x); // x: [n, ${inputSize}] tensor or Float32Array
\`\`\`

In a browser, serve this directory and pass its URL: \`loadCombination(tf, 'https://host/path/')\`.
Each model directory is also a plain TensorFlow.js layers model (\`tf.loadLayersModel\`); specialists
output their classes in the order listed in combination.json, then a dustbin for every other class.
`;
}

export async function exportCombinationPackage(
  store: ArtifactStore,
  req: ExportCombinationRequest,
): Promise<ExportedCombination> {
  const dir = keys.exportDir(req.key);
  const manifestKey = `${dir}/combination.json`;
  const existing = await store.stat(manifestKey);
  if (existing) {
    const files = await store.list(`${dir}/`);
    return { dir, manifest: existing.key, files, cached: true };
  }
  const files: string[] = [];
  let inputShape: InputShape = [0, 0];
  let input: ModelInput | undefined;
  const exportOne = async (model: ModelRef, sub: string, classNames: string[]): Promise<void> => {
    const stored = await storeLayersModel(store, model, `${dir}/${sub}`, classNames);
    files.push(stored.weights, stored.modelJson);
    inputShape = stored.inputShape;
    input = stored.input;
  };
  const { generalist, specialists, combine } = req.combination;
  await exportOne(generalist, 'generalist', req.classNames);
  const specialistEntries: CombinationPackageManifest['specialists'] = [];
  for (const s of specialists) {
    const classNames = [...s.subset.map((c) => req.classNames[c]!), 'dustbin'];
    await exportOne(s.model, s.name, classNames);
    specialistEntries.push({
      name: s.name,
      subset: s.subset,
      path: s.name,
      digest: s.model.digest,
      classNames: classNames.slice(0, -1),
    });
  }
  const manifest: CombinationPackageManifest = {
    format: 'chrysalis-combination',
    version: 1,
    loader: 'loader.mjs',
    createdBy: 'chrysalis',
    combinationKey: req.key,
    classNames: req.classNames,
    inputShape,
    input: input
      ? describeInput(inputShape, input.normalization, input.features)
      : 'float32 pixels / 255, each image flattened row by row (channels interleaved)',
    ...input,
    generalist: { path: 'generalist', digest: generalist.digest },
    specialists: specialistEntries,
    combine: { topN: combine.topN, maxIterations: combine.maxIterations, tolerance: combine.tolerance },
    evaluation: req.evaluation,
  };
  files.push(
    (await store.put(`${dir}/loader.mjs`, new TextEncoder().encode(loaderSource()), { contentType: 'text/javascript' }))
      .key,
  );
  files.push(
    (await store.put(`${dir}/README.md`, new TextEncoder().encode(readme(manifest)), { contentType: 'text/markdown' }))
      .key,
  );
  files.push((await putJson(store, manifestKey, manifest)).key);
  return { dir, manifest: manifestKey, files, cached: false };
}
