import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  ArtifactCorruptError,
  ArtifactNotFoundError,
  LocalArtifactStore,
  decodeTensors,
  digestOf,
  encodeTensors,
  stableStringify,
  TensorCodecError,
} from '../../storage';

test('tensor codec round-trips float32, int32 and uint8 tensors exactly', () => {
  const f = Float32Array.from([1.5, -2.25, Math.PI, 1e-30, -0]);
  const bytes = encodeTensors({
    a: { dtype: 'float32', shape: [5], data: f },
    b: { dtype: 'int32', shape: [2, 2], data: Int32Array.from([1, -2, 3, 2 ** 31 - 1]) },
    c: { dtype: 'uint8', shape: [3], data: Uint8Array.from([0, 128, 255]) },
  });
  const back = decodeTensors(bytes);
  assert.deepEqual(Array.from(back['a']!.data), Array.from(f));
  assert.deepEqual(back['b']!.shape, [2, 2]);
  assert.deepEqual(Array.from(back['b']!.data), [1, -2, 3, 2 ** 31 - 1]);
  assert.deepEqual(Array.from(back['c']!.data), [0, 128, 255]);
  assert.ok(bytes.length < 5 * 4 + 16 + 3 + 400, 'binary, not JSON');
});

test('tensor codec rejects bad magic, truncation and shape mismatch', () => {
  assert.throws(() => decodeTensors(new TextEncoder().encode('{"json":true}')), /bad magic/);
  const ok = encodeTensors({ a: { dtype: 'float32', shape: [4], data: new Float32Array(4) } });
  assert.throws(() => decodeTensors(ok.subarray(0, ok.length - 4)), /truncated/);
  assert.throws(
    () => encodeTensors({ a: { dtype: 'float32', shape: [3], data: new Float32Array(4) } }),
    TensorCodecError,
  );
});

test('stable digests ignore key order but not values', () => {
  assert.equal(stableStringify({ b: 1, a: [1, { d: 2, c: 3 }] }), '{"a":[1,{"c":3,"d":2}],"b":1}');
  assert.equal(digestOf({ x: 1, y: 2 }), digestOf({ y: 2, x: 1 }));
  assert.notEqual(digestOf({ x: 1 }), digestOf({ x: 2 }));
});

test('local store: put/get verified, missing key is a typed error, corruption is detected', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'store-'));
  const store = new LocalArtifactStore(dir);
  const ref = await store.put('a/b.bin', Uint8Array.from([1, 2, 3]));
  assert.equal(ref.bytes, 3);
  assert.deepEqual(Array.from(await store.get(ref)), [1, 2, 3]);
  assert.deepEqual(await store.list('a/'), ['a/b.bin']);
  await assert.rejects(store.get('nope'), ArtifactNotFoundError);
  writeFileSync(path.join(dir, 'a/b.bin'), Uint8Array.from([1, 2, 4]));
  await assert.rejects(
    store.get(ref),
    (err: unknown) => err instanceof ArtifactCorruptError && /sha256/.test(err.message),
  );
  await assert.rejects(store.get('a/b.bin'), ArtifactCorruptError);
  await assert.rejects(store.put('../escape', new Uint8Array(1)), /escapes/);
});
