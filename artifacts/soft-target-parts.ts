/**
 * Soft targets in parts (docs/ARCHITECTURE.md, "Fan-out teacher inference"): for sharded data the assembly stores
 * one part file per block of rows, each holding every member's targets of those rows in the run's format, and an
 * index of them; so neither the assembly nor a streaming student ever holds the whole set, whatever its size.
 *
 * A part holds exactly the rows of the one-file layout (every format is row-wise: float16 rounds each logit, top-k
 * picks each row's classes), and a reader turns rows into training targets in the same 16 384-row pieces, aligned
 * to row 0, as the whole set is turned: a student reading parts a window at a time trains on the very numbers a
 * student reading the one file would.
 */
import type { ArtifactRef, ArtifactStore } from '../storage/artifact-store';
import { getJson, putJson } from '../storage/artifact-store';
import { decodeTensors, encodeTensors } from '../storage/tensor-codec';
import type { RawTensor } from '../storage/tensor-codec';
import { ENSEMBLE_CHUNK_ROWS } from '../ml/losses';
import type { EnsembleRule } from '../contracts/vocabulary';
import {
  concatSoftTargets,
  concatStoredRows,
  encodeSoftTargets,
  softTargetRows,
  softTargetsFromStored,
  storedMembers,
  storedRows,
} from '../ml/soft-targets';
import type { StoredSoftTargets } from '../ml/soft-targets';
import type { SoftTargetReader } from '../ml/train';
import { blockKey, blockRanges, membersOf } from '../common/soft-target-blocks';
import { keys } from './models';
import type { SoftTargetsRequest } from '../contracts/exchange';
import type { SoftTargetParts, SoftTargetsRef } from '../contracts/exchange';

/** The index object: every part's reference, in row order. */
interface PartsIndex {
  kind: 'chrysalis-soft-target-parts';
  version: 1;
  /** Rows per part (the last may be short). */
  rows: number;
  n: number;
  parts: ArtifactRef[];
}

/** One member's float32 logits on one block, checked to hold `values` numbers. */
export async function blockLogits(
  store: ArtifactStore,
  dir: string,
  member: number,
  block: number,
  values: number,
): Promise<Float32Array> {
  const key = blockKey(dir, member, block);
  const { logits } = decodeTensors(await store.get(key));
  if (!logits || logits.dtype !== 'float32' || logits.data.length !== values)
    throw new Error(`${key}: expected ${values} float32 logits`);
  return logits.data as Float32Array;
}

/**
 * Stores one part per block (every member's logits of the block, encoded in the format) and the index. Every part
 * is written anew: one left by an earlier attempt may hold rows of another block size (not part of the key). Holds
 * one block of every member at a time.
 */
export async function writeSoftTargetParts(
  deps: { store: ArtifactStore },
  req: SoftTargetsRequest & { blockSize: number },
  /** Called after each part is stored: the activity's heartbeat. */
  beat: (details: unknown) => void = () => {},
): Promise<{ logits: ArtifactRef; stored: number; n: number; C: number; parts: SoftTargetParts }> {
  const { store } = deps;
  const n = req.data.counts.transfer;
  const C = req.data.numClasses;
  const members = membersOf(req).length;
  const dir = keys.softTargets(req.key);
  const refs: ArtifactRef[] = [];
  let stored = members;
  for (const { block, count } of blockRanges(n, req.blockSize)) {
    const key = `${dir}/parts/${String(block).padStart(6, '0')}.cht`;
    const perMember: Float32Array[] = [];
    for (let m = 0; m < members; m++) perMember.push(await blockLogits(store, dir, m, block, count * C));
    const tensors = encodeSoftTargets(perMember, count, C, req.format);
    stored = storedMembers(tensors);
    refs.push(await store.put(key, encodeTensors(tensors)));
    beat({ part: block });
  }
  const index: PartsIndex = { kind: 'chrysalis-soft-target-parts', version: 1, rows: req.blockSize, n, parts: refs };
  const logits = await putJson(store, `${dir}/parts.json`, index);
  const bytes = refs.reduce((a, r) => a + r.bytes, 0);
  return { logits, stored, n, C, parts: { rows: req.blockSize, count: refs.length, bytes } };
}

/** Rows [from, to) of stored soft targets as stored tensors, read from the parts that hold them. */
async function partRows(store: ArtifactStore, index: PartsIndex, from: number, to: number) {
  const pieces: Record<string, RawTensor>[] = [];
  for (let p = Math.floor(from / index.rows); p * index.rows < to; p++) {
    const ref = index.parts[p];
    if (!ref) throw new Error(`soft-target parts: no part ${p} for rows ${from}..${to} of ${index.n}`);
    const start = p * index.rows;
    const tensors = decodeTensors(await store.get(ref));
    pieces.push(storedRows(tensors, Math.max(from, start) - start, Math.min(to, start + index.rows) - start));
  }
  return concatStoredRows(pieces);
}

/**
 * Training targets at T of chosen row ranges, read from the parts. Each range is widened to whole
 * ENSEMBLE_CHUNK_ROWS pieces from row 0, so every row is combined in the same piece as when the set is read whole.
 */
export async function softTargetPartsReader(
  store: ArtifactStore,
  ref: SoftTargetsRef,
  T: number,
  rule: EnsembleRule,
): Promise<SoftTargetReader> {
  const index = await getJson<PartsIndex>(store, ref.logits);
  if (index.kind !== 'chrysalis-soft-target-parts' || index.n !== ref.n)
    throw new Error(`${ref.logits.key}: not the parts index of ${ref.n} rows of soft targets`);
  const C = ref.numClasses;
  const rows = async (from: number, to: number): Promise<StoredSoftTargets> => {
    if (!(0 <= from && from <= to && to <= index.n))
      throw new RangeError(`soft targets: rows ${from}..${to} of ${index.n}`);
    const a = Math.floor(from / ENSEMBLE_CHUNK_ROWS) * ENSEMBLE_CHUNK_ROWS;
    const b = Math.min(index.n, Math.ceil(to / ENSEMBLE_CHUNK_ROWS) * ENSEMBLE_CHUNK_ROWS);
    const targets = softTargetsFromStored(await partRows(store, index, a, b), C, T, rule);
    return softTargetRows(targets, C, from - a, to - a);
  };
  return {
    read: async (ranges) => {
      const out: StoredSoftTargets[] = [];
      for (const [from, to] of ranges) if (to > from) out.push(await rows(from, to));
      return out.length > 0 ? concatSoftTargets(out) : new Float32Array(0);
    },
  };
}

/** Training targets at T of every row: the one tensor file, or all the parts. */
export async function wholeSoftTargets(
  store: ArtifactStore,
  ref: SoftTargetsRef,
  T: number,
  rule: EnsembleRule,
): Promise<StoredSoftTargets> {
  if (ref.parts) return (await softTargetPartsReader(store, ref, T, rule)).read([[0, ref.n]]);
  return softTargetsFromStored(decodeTensors(await store.get(ref.logits)), ref.numClasses, T, rule);
}
