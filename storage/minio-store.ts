/**
 * MinIO-backed {@link ArtifactStore}. The sha256 of every object is stored as user metadata at write
 * time and checked on every read. Transient network failures (server restarting, connection reset)
 * are retried here with backoff; anything left over surfaces as {@link StoreUnavailableError}, which
 * the activity layer lets Temporal retry.
 */
import { Client } from 'minio';
import type { Readable } from 'node:stream';
import type { ArtifactRef, ArtifactStore, PutOptions } from './artifact-store';
import { verify } from './artifact-store';
import { ArtifactNotFoundError, StoreUnavailableError } from './errors';
import { sha256Hex } from './hash';

export interface MinioStoreOptions {
  /** e.g. http://127.0.0.1:9000 */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** @default 'us-east-1' */
  region?: string;
  /** Attempts per operation on transient errors. @default 6 */
  attempts?: number;
  /** First backoff delay; doubles each attempt. @default 250 */
  backoffMs?: number;
}

const TRANSIENT = new RegExp(
  [
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EAI_AGAIN',
    'socket hang up',
    'ServiceUnavailable',
    'XMinioServerNotInitialized',
    'SlowDown',
    'InternalError',
    'premature close',
    'other side closed',
  ].join('|'),
  'i',
);

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchObject';
}

export function isTransientStoreError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return TRANSIENT.test(`${e.code ?? ''} ${e.message ?? ''}`);
}

async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

export class MinioArtifactStore implements ArtifactStore {
  readonly client: Client;
  readonly bucket: string;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(opts: MinioStoreOptions) {
    const url = new URL(opts.endpoint);
    const useSSL = url.protocol === 'https:';
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: opts.accessKey,
      secretKey: opts.secretKey,
      region: opts.region ?? 'us-east-1',
    });
    this.bucket = opts.bucket;
    this.attempts = opts.attempts ?? 6;
    this.backoffMs = opts.backoffMs ?? 250;
  }

  private async retry<T>(operation: string, key: string, fn: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let i = 0; i < this.attempts; i++) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransientStoreError(err)) throw err;
        last = err;
        await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** i));
      }
    }
    throw new StoreUnavailableError(operation, key, last);
  }

  /** Creates the bucket if missing. Idempotent. */
  async ensureBucket(): Promise<void> {
    await this.retry('ensureBucket', this.bucket, async () => {
      if (!(await this.client.bucketExists(this.bucket))) {
        try {
          await this.client.makeBucket(this.bucket);
        } catch (err) {
          if ((err as { code?: string }).code !== 'BucketAlreadyOwnedByYou') throw err;
        }
      }
    });
  }

  async put(key: string, data: Uint8Array, opts: PutOptions = {}): Promise<ArtifactRef> {
    const sha256 = sha256Hex(data);
    await this.retry('put', key, () =>
      this.client.putObject(
        this.bucket,
        key,
        Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        data.byteLength,
        {
          'Content-Type': opts.contentType ?? 'application/octet-stream',
          'X-Amz-Meta-Sha256': sha256,
        },
      ),
    );
    // Read the recorded state back: a put that the server did not fully take shows up here, not at a later read.
    const stat = await this.stat(key);
    if (!stat || stat.sha256 !== sha256 || stat.bytes !== data.byteLength) {
      throw new StoreUnavailableError(
        'put',
        key,
        new Error('object not visible with the expected size and digest after upload'),
      );
    }
    return stat;
  }

  async get(ref: ArtifactRef | string): Promise<Uint8Array> {
    const key = typeof ref === 'string' ? ref : ref.key;
    let expected = typeof ref === 'string' ? undefined : ref.sha256;
    if (expected === undefined) {
      const stat = await this.stat(key);
      if (!stat) throw new ArtifactNotFoundError(key);
      expected = stat.sha256;
    }
    const data = await this.retry('get', key, async () => {
      try {
        return await readAll(await this.client.getObject(this.bucket, key));
      } catch (err) {
        if (isNotFound(err)) throw new ArtifactNotFoundError(key);
        throw err;
      }
    });
    return verify(key, data, expected);
  }

  async stat(key: string): Promise<ArtifactRef | undefined> {
    return this.retry('stat', key, async () => {
      try {
        const s = await this.client.statObject(this.bucket, key);
        const sha256 = (s.metaData as Record<string, string | undefined>)['sha256'];
        if (!sha256) return undefined; // not written by chrysalis, or an upload still in flight
        return { key, sha256, bytes: s.size };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async list(prefix: string): Promise<string[]> {
    return this.retry('list', prefix, async () => {
      const keys: string[] = [];
      for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
        const name = (item as { name?: string }).name;
        if (name) keys.push(name);
      }
      return keys.sort();
    });
  }

  async delete(key: string): Promise<void> {
    await this.retry('delete', key, () => this.client.removeObject(this.bucket, key));
  }
}
