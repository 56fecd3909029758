/**
 * Data files that are not what they claim end the run at once: each is refused by the loader as a non-retryable
 * InvalidInput naming the config field, the file and, where there is one, the item or line — never accepted
 * silently, never a plain error that the retry policy would repeat. A store that cannot be reached stays retryable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createComputeActivities } from '../../activities/compute';
import { loadCsvTable } from '../../data/csv';
import { loadSource } from '../../data/sources';
import { toFailure } from '../../activities/failures';
import { createLogger } from '../../config';
import { initBackend } from '../../ml';
import { encodeIdx } from '../../ml/idx';
import type { ArtifactStore } from '../../storage/artifact-store';
import { StoreUnavailableError } from '../../storage/errors';
import { LocalArtifactStore } from '../../storage/local-store';
import { rejectsInvalid } from '../helpers/assertions';

/** Four valid IDX files (8 train, 4 test 2×2 images, labels 0-2) in a fresh folder; `replace` swaps some out. */
function idxSource(replace: Partial<Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', Uint8Array>>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bad-idx-'));
  const files = {
    trainImages: encodeIdx(
      [8, 2, 2],
      Uint8Array.from({ length: 32 }, (_, i) => i),
    ),
    trainLabels: encodeIdx([8], Uint8Array.from([0, 1, 2, 0, 1, 2, 0, 1])),
    testImages: encodeIdx([4, 2, 2], new Uint8Array(16)),
    testLabels: encodeIdx([4], Uint8Array.from([0, 1, 2, 0])),
    ...replace,
  };
  const idx = Object.fromEntries(
    Object.entries(files).map(([k, bytes]) => {
      writeFileSync(path.join(dir, `${k}.idx`), bytes);
      return [k, path.join(dir, `${k}.idx`)];
    }),
  ) as Record<keyof typeof files, string>;
  return { idx, access: { dataRoots: [dir] } };
}

const load = (src: ReturnType<typeof idxSource>, classNames?: string[]) =>
  loadSource({ dataset: 'idx', idx: { ...src.idx, ...(classNames ? { classNames } : {}) } }, src.access);

test('IDX labels at or past the class count are refused naming the file and the item', async () => {
  const ok = await load(idxSource({}));
  assert.equal(ok.numClasses, 3);
  await rejectsInvalid(
    load(idxSource({ testLabels: encodeIdx([4], Uint8Array.from([0, 5, 2, 0])) })),
    /^invalid input: data\.idx\.testLabels: \/.*\/testLabels\.idx: item 1: label 5 is not below 3 classes \(those of the training labels\)$/,
  );
  await rejectsInvalid(
    load(idxSource({}), ['zero', 'one']),
    /^invalid input: data\.idx\.trainLabels: \/.*\/trainLabels\.idx: item 2: label 2 is not below 2 classes \(data\.idx\.classNames has 2\)$/,
  );
});

test('a file that starts like gzip but is not one is refused naming the field and the file', async () => {
  const fake = Uint8Array.from([0x1f, 0x8b, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  await rejectsInvalid(
    load(idxSource({ trainLabels: fake })),
    /^invalid input: data\.idx\.trainLabels: \/.*\/trainLabels\.idx: starts like gzip \(1f 8b\) but is not a readable gzip stream \(unknown compression method\)$/,
  );
});

test('IDX files of another dtype or a header the file cannot hold are refused saying so', async () => {
  // Float32 images (type 0x0D): refused by name, not read as bytes nor miscounted.
  const float = new Uint8Array(4 + 12 + 8 * 4 * 4);
  float.set([0, 0, 0x0d, 3]);
  new DataView(float.buffer).setUint32(4, 8);
  new DataView(float.buffer).setUint32(8, 2);
  new DataView(float.buffer).setUint32(12, 2);
  await rejectsInvalid(
    load(idxSource({ trainImages: float })),
    /^invalid input: data\.idx\.trainImages: \/.*\/trainImages\.idx: IDX dtype 0x0D \(float32\) is not supported: only unsigned-byte IDX data \(0x08\) is read$/,
  );
  await rejectsInvalid(
    load(idxSource({ testImages: Uint8Array.from([0, 0, 8, 200, 0, 0, 0, 4]) })),
    /^invalid input: data\.idx\.testImages: \/.*\/testImages\.idx: the header declares 200 dimensions; the file ends inside the header$/,
  );
  await rejectsInvalid(
    load(idxSource({ testLabels: encodeIdx([3], Uint8Array.from([0, 1, 2])) })),
    /^invalid input: data\.idx\.testLabels: \/.*\/testLabels\.idx: labels of shape \[3\] for 4 images; expected \[4\]$/,
  );
});

const csv = (map: Record<string, string>) => async (ref: string) => new TextEncoder().encode(map[ref]);

test('CSV rows with an empty label cell, NaN, infinite or float32-overflowing features are refused naming the line', async () => {
  const spec = { train: '/d/t.csv', label: 'label' };
  await rejectsInvalid(
    loadCsvTable(spec, csv({ '/d/t.csv': 'f1,label\n1,a\n2, \n3,b\n4,a\n' })),
    /^invalid input: data\.csv\.train: \/d\/t\.csv: line 3, column "label": the label cell is empty$/,
  );
  for (const bad of ['NaN', 'Infinity', '-Infinity', '1e999'])
    await rejectsInvalid(
      loadCsvTable(spec, csv({ '/d/t.csv': `f1,label\n1,a\n${bad},b\n3,b\n4,a\n` })),
      new RegExp(`^invalid input: data\\.csv\\.train: /d/t\\.csv: line 3, column "f1": "${bad}" is not a number$`),
    );
  // Finite as a double, infinite as the float32 it would be stored as.
  await rejectsInvalid(
    loadCsvTable(spec, csv({ '/d/t.csv': 'f1,label\n1,a\n2,b\n-1e39,b\n4,a\n' })),
    /^invalid input: data\.csv\.train: \/d\/t\.csv: line 4, column "f1": -1e39 is outside float32's range \(±3\.4e38\)$/,
  );
});

test('a store that cannot be reached while reading a data file stays retryable', async () => {
  const unreachable = {
    get: async (key: string) => {
      throw new StoreUnavailableError('get', key, new Error('connect ECONNREFUSED'));
    },
  } as unknown as ArtifactStore;
  const idx = { trainImages: 'minio:a', trainLabels: 'minio:b', testImages: 'minio:c', testLabels: 'minio:d' };
  const err = await loadSource({ dataset: 'idx', idx }, { store: unreachable }).then(
    () => assert.fail('expected the load to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StoreUnavailableError, String(err));
  const mapped = toFailure(err, 'prepareData');
  assert.ok(mapped instanceof ApplicationFailure);
  assert.equal(mapped.type, 'StoreUnavailable');
  assert.equal(mapped.nonRetryable, false);
});

test('an export named by its store key that is not a tfjs model fails as InvalidInput naming the key', async () => {
  const store = new LocalArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'bad-export-')));
  const logger = createLogger({ name: 't', level: 'silent' });
  const backend = await initBackend({ requested: 'auto' });
  const compute = createComputeActivities({ store, logger, backend, dataRoots: [] });
  const data = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 100, trainLimit: 300 },
    transfer: { kind: 'fraction', fraction: 0.1 },
    seed: 1,
  });
  await store.put('exports/odd/model.json', new TextEncoder().encode('{"modelTopology": 5, "weightsManifest": "x"}'));
  await rejectsInvalid(
    compute.evaluateExport({ modelJson: 'exports/odd/model.json', data, name: 'odd' }),
    /^invalid input: modelJson: minio:exports\/odd\/model\.json: not a readable TensorFlow\.js layers model \(\w+: /,
  );
});
