/**
 * The claim-check store: big things (weights, logits, datasets, reports) live here and only an
 * {@link ArtifactRef} travels through Temporal. Every read is verified against the sha256 recorded at
 * write time, so a half-written or corrupted object is never handed to a caller as data.
 */
import { ArtifactCorruptError } from './errors';
import { sha256Hex } from './hash';

/** A small, serialisable pointer to an immutable stored object. */
export interface ArtifactRef {
  key: string;
  sha256: string;
  bytes: number;
}

export interface PutOptions {
  /** @default 'application/octet-stream' */
  contentType?: string;
}

export interface ArtifactStore {
  /** Writes the bytes, reads back their recorded digest, and returns a reference. */
  put(key: string, data: Uint8Array, opts?: PutOptions): Promise<ArtifactRef>;
  /** Reads and verifies. A bare key is verified against the digest stored beside the object. */
  get(ref: ArtifactRef | string): Promise<Uint8Array>;
  /** The reference of an existing object, or undefined. */
  stat(key: string): Promise<ArtifactRef | undefined>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export function verify(key: string, data: Uint8Array, expected: string): Uint8Array {
  const actual = sha256Hex(data);
  if (actual !== expected) throw new ArtifactCorruptError(key, expected, actual);
  return data;
}

/** The bytes {@link putJson} stores for `value`. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2));
}

export async function putJson(store: ArtifactStore, key: string, value: unknown): Promise<ArtifactRef> {
  return store.put(key, jsonBytes(value), { contentType: 'application/json' });
}

export async function getJson<T>(store: ArtifactStore, ref: ArtifactRef | string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await store.get(ref))) as T;
}
