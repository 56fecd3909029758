/**
 * Every key in the artifact store, built in one place so a reader and the writer of an object cannot disagree on
 * where it lives (docs/ARCHITECTURE.md, "Artifact layout in MinIO"). Directories have no trailing slash; list a
 * directory's objects with `${dir}/`. Plain strings only, so workflows may import it too.
 *
 *   data-plans/<planDigest>.cht                  train/validation/transfer indices
 *   datasets/<digest>/shards-<size>/…            {train,test}-<i>.cht + manifest.json: a dataset as shards
 *   models/<digest>/weights.cht + manifest.json  parameters; the manifest is written last
 *   models/<digest>/epoch-<k>/…                  the same, after the first k epochs (successive halving)
 *   checkpoints/<digest>/epoch-<k>[.w<j>].cht    weights + optimizer state + history, while training
 *   soft-targets/<key>/logits.cht + manifest.json
 *   soft-targets/<key>/blocks/<member>-<block>.cht   one teacher's float32 logits of a block (the fan-out)
 *   soft-targets/<key>/parts/<block>.cht + parts.json  sharded data: the soft targets a block of rows per file
 *   evaluations/<modelDigest>/<planDigest>.json
 *   clusters/<key>/clusters.json + covariance.cht
 *   exports/<digest>/                            a layers model, or a generalist + specialists package
 *   exports/<digest>-<float16|uint8>/            a quantised copy of a layers model
 *   runs/<workflowId>/report.{json,md,html}      and charts/<name>.{png,svg}
 *   imports/<sha256>/files/… + import.json       a teacher's or student topology's files, by content digest
 */
import type { QuantizeKind } from '../contracts/vocabulary';

const EXPORTS = 'exports/';
const pad = (k: number) => String(k).padStart(5, '0');

export const keys = {
  plan: (planDigest: string) => `data-plans/${planDigest}.cht`,
  shardsDir: (datasetDigest: string, size: number) => `datasets/${datasetDigest}/shards-${size}`,
  /** Written after every shard it names. */
  shardsManifest: (datasetDigest: string, size: number) => `${keys.shardsDir(datasetDigest, size)}/manifest.json`,
  shard: (datasetDigest: string, size: number, split: 'train' | 'test', i: number) =>
    `${keys.shardsDir(datasetDigest, size)}/${split}-${String(i).padStart(5, '0')}.cht`,
  modelDir: (digest: string) => `models/${digest}`,
  modelManifest: (digest: string) => `${keys.modelDir(digest)}/manifest.json`,
  /** A recipe's weights after its first `epoch` epochs (a stopped run), beside the finished model. */
  partialModelDir: (digest: string, epoch: number) =>
    `${keys.modelDir(digest)}/epoch-${String(epoch).padStart(5, '0')}`,
  checkpointDir: (digest: string) => `checkpoints/${digest}`,
  /**
   * Zero-padded, so listing a recipe's checkpoints returns them oldest first: after `epoch` epochs, or (streaming)
   * `window` windows into the next one (`epoch-00002.w00004.cht` sorts after `epoch-00002.cht`).
   */
  checkpoint: (digest: string, epoch: number, window = 0) =>
    `${keys.checkpointDir(digest)}/epoch-${pad(epoch)}${window > 0 ? `.w${pad(window)}` : ''}.cht`,
  /** Where a {@link keys.checkpoint} key resumes (`epoch-00002.w00004.cht`: 2, 4), or undefined for another key. */
  checkpointPosition: (key: string): { epoch: number; window: number } | undefined => {
    const m = /\/epoch-(\d+)(?:\.w(\d+))?\.cht$/.exec(key);
    return m ? { epoch: Number(m[1]), window: Number(m[2] ?? 0) } : undefined;
  },
  softTargets: (key: string) => `soft-targets/${key}`,
  evaluation: (modelDigest: string, planDigest: string) => `evaluations/${modelDigest}/${planDigest}.json`,
  clusters: (key: string) => `clusters/${key}`,
  /** A published model (by its digest) or a generalist + specialists package (by the combination's digest). */
  exportDir: (digest: string) => `${EXPORTS}${digest}`,
  /** A quantised copy of a published model's export, beside the float32 one: `exports/<digest>-uint8`. */
  quantizedExportDir: (digest: string, quantize: QuantizeKind) => `${keys.exportDir(digest)}-${quantize}`,
  isExportDir: (prefix: string) => prefix.startsWith(EXPORTS),
  run: (workflowId: string) => `runs/${workflowId}`,
  /** Files imported from outside, under their content digest (artifacts/import-files.ts). */
  importDir: (sha256: string) => `imports/${sha256}`,
  /** A student's layers topology, named by the sha256 of its bytes. */
  studentTopology: (sha256: string) => `${keys.importDir(sha256)}/files/model.json`,
  /** Written after the files: the import is complete. */
  importManifest: (sha256: string) => `${keys.importDir(sha256)}/import.json`,
};
