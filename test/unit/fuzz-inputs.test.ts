/**
 * Seeded fuzzing of every accepted file format at the boundary where the activities read it: truncations, byte
 * flips, wrong dtypes, shapes and ranges, fields of the wrong type, empty and oversized files. Each case either
 * loads to a valid result or fails as a non-retryable InvalidInput naming the field and the file — never another
 * error, never a hang. For the readers written here (IDX, CSV, .npy, tar, the tensor codec) the message must also
 * be the reader's own, not a TypeError or RangeError that escaped it. A fixed seed makes every failure replayable.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ApplicationFailure } from '@temporalio/common';
import { createComputeActivities } from '../../activities/compute';
import { loadCsvTable } from '../../data/csv';
import { toFailure } from '../../activities/failures';
import { loadImageFolders } from '../../data/images';
import { parseUserFile, userFileGuard } from '../../data/user-files';
import { createLogger } from '../../config';
import type { TeacherImport } from '../../config/schemas';
import { buildNet, initBackend } from '../../ml';
import { loadIdxFiles } from '../../ml/datasets';
import { exportLayersModel } from '../../ml/export';
import { encodeIdx } from '../../ml/idx';
import { encodeNpy } from '../../ml/npy';
import { LocalArtifactStore } from '../../storage/local-store';
import { readTar } from '../../storage/tar';
import { TensorCodecError, decodeTensors, encodeTensors } from '../../storage/tensor-codec';

before(async () => {
  await initBackend({ requested: 'auto' });
});

/** mulberry32: a small seeded generator, so a failing case is found again by its seed and index. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const bytesOf = (r: Rand, n: number) => Uint8Array.from({ length: n }, () => int(r, 256));

/** One random damage to `b`: a truncation, flipped or set bytes (often in the header), inserted or appended junk. */
function mutate(r: Rand, b: Uint8Array): { bytes: Uint8Array; how: string } {
  const at = (head = false) => int(r, head ? Math.min(b.length, 32) : b.length);
  const copy = () => b.slice();
  switch (int(r, 9)) {
    case 0: {
      const n = at();
      return { bytes: b.slice(0, n), how: `truncated to ${n}` };
    }
    case 1:
    case 2: {
      const c = copy();
      const head = r() < 0.6;
      const flips = 1 + int(r, 4);
      for (let i = 0; i < flips && c.length > 0; i++) {
        const k = at(head);
        c[k] = c[k]! ^ (1 + int(r, 255));
      }
      return { bytes: c, how: `${flips} flips${head ? ' in the header' : ''}` };
    }
    case 3: {
      const c = copy();
      const i = at(true);
      c[i] = [0, 0xff, 0x7f, 0x80][int(r, 4)]!;
      return { bytes: c, how: `byte ${i} set to ${c[i]}` };
    }
    case 4: {
      const i = at();
      const junk = bytesOf(r, 1 + int(r, 64));
      const c = new Uint8Array(b.length + junk.length);
      c.set(b.subarray(0, i));
      c.set(junk, i);
      c.set(b.subarray(i), i + junk.length);
      return { bytes: c, how: `${junk.length} bytes inserted at ${i}` };
    }
    case 5: {
      const junk = bytesOf(r, 1 + int(r, 4096));
      const c = new Uint8Array(b.length + junk.length);
      c.set(b);
      c.set(junk, b.length);
      return { bytes: c, how: `${junk.length} bytes appended` };
    }
    case 6:
      return { bytes: new Uint8Array(0), how: 'empty' };
    case 7:
      return { bytes: bytesOf(r, int(r, 2048)), how: 'random bytes' };
    default: {
      // A big-endian or little-endian length near the start set huge: a header that promises more than there is.
      const c = copy();
      const i = at(true);
      for (let k = 0; k < 4 && i + k < c.length; k++) c[i + k] = 0xff;
      return { bytes: c, how: `0xffffffff at ${i}` };
    }
  }
}

/** A message the reader wrote itself, not a TypeError, RangeError or bare Error that escaped it. */
const ESCAPED = /not a readable [^(]*\((TypeError|RangeError|Error|SyntaxError|ReferenceError): /;

/** `s` as a regular expression source that matches it literally. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The start of a refusal that names `field` and `file`, then says what is wrong. */
const naming = (field: string, file: string) => new RegExp(`^invalid input: ${literal(field)}: ${literal(file)}: \\S`);

/**
 * Awaits one fuzz case: it must resolve (then `valid` checks the result) or reject as InvalidInput whose message
 * matches `named` (the field and the file); with `own`, in the reader's own words. Returns 'ok' or 'refused'.
 */
async function oneCase<T>(
  what: string,
  run: () => Promise<T> | T,
  where: { named: RegExp; own: boolean },
  valid: (out: T) => void,
): Promise<'ok' | 'refused'> {
  let out: T;
  try {
    out = await run();
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `${what}: ${String(err)}`);
    assert.equal(err.type, 'InvalidInput', `${what}: ${err.message}`);
    assert.equal(err.nonRetryable, true, what);
    assert.match(err.message, where.named, what);
    if (where.own) assert.doesNotMatch(err.message, ESCAPED, what);
    return 'refused';
  }
  valid(out);
  return 'ok';
}

/** Runs `cases` seeded cases; every format must see both outcomes, so the fuzzing reaches past the first check. */
async function fuzz(
  name: string,
  cases: number,
  seed: number,
  one: (r: Rand, i: number) => Promise<'ok' | 'refused'>,
  opts: { allRefused?: boolean } = {},
): Promise<void> {
  const r = rng(seed);
  const seen = { ok: 0, refused: 0 };
  for (let i = 0; i < cases; i++) seen[await one(r, i)]++;
  assert.ok(seen.refused > cases / 10, `${name}: ${JSON.stringify(seen)}`);
  if (!opts.allRefused) assert.ok(seen.ok > 0, `${name}: no case loaded: ${JSON.stringify(seen)}`);
}

const IDX_FIELDS = ['trainImages', 'trainLabels', 'testImages', 'testLabels'] as const;

test(
  'fuzz: IDX files, raw and gzip, load or are refused naming the field and the file',
  { timeout: 60_000 },
  async () => {
    const base = {
      trainImages: encodeIdx(
        [6, 3, 3],
        Uint8Array.from({ length: 54 }, (_, i) => i),
      ),
      trainLabels: encodeIdx([6], Uint8Array.from([0, 1, 2, 0, 1, 2])),
      testImages: encodeIdx([2, 3, 3], new Uint8Array(18)),
      testLabels: encodeIdx([2], Uint8Array.from([2, 0])),
    };
    const guard = userFileGuard('IDX file');
    await fuzz('IDX', 400, 27, async (r, i) => {
      const f = IDX_FIELDS[int(r, 4)]!;
      const gz = r() < 0.3;
      const clean = gz ? new Uint8Array(gzipSync(base[f])) : base[f];
      const { bytes, how } = mutate(r, clean);
      const files = Object.fromEntries(IDX_FIELDS.map((k) => [k, `/data/${k}.idx`])) as Record<string, string>;
      const read = async (ref: string) => (ref === files[f] ? bytes : base[path.basename(ref, '.idx') as typeof f]);
      return oneCase(
        `case ${i}: ${f}${gz ? ' (gzip)' : ''} ${how}`,
        () =>
          loadIdxFiles(
            {
              trainImages: files.trainImages!,
              trainLabels: files.trainLabels!,
              testImages: files.testImages!,
              testLabels: files.testLabels!,
            },
            read,
            guard,
          ),
        { named: naming(`data.idx.${f}`, files[f]!), own: true },
        (ds) => {
          for (const s of [ds.train, ds.test]) {
            assert.equal(s.labels.length, s.n);
            assert.equal(s.images.length, s.n * ds.rows * ds.cols * ds.channels);
            assert.ok(
              s.labels.every((l) => l < ds.numClasses),
              `case ${i}: a label past ${ds.numClasses} classes`,
            );
          }
        },
      );
    });
  },
);

test('fuzz: CSV tables load or are refused naming the field, the file and the line', { timeout: 60_000 }, async () => {
  const rows = Array.from({ length: 24 }, (_, i) => `${i * 0.5},${(i * 7) % 5},"${['a', 'b', 'c'][i % 3]}"`);
  const clean = new TextEncoder().encode(`f1,f2,label\n${rows.join('\n')}\n`);
  const cells = ['', ' ', 'NaN', 'Infinity', '-1e999', '1e39', '-4e38', 'x', '"', '0x10', '1,2'];
  await fuzz('CSV', 400, 31, async (r, i) => {
    // Half the cases damage bytes; half put a value of the wrong kind or range into one cell.
    const { bytes, how } =
      r() < 0.5
        ? mutate(r, clean)
        : (() => {
            const table = rows.map((row) => row.split(','));
            const [row, col, cell] = [int(r, table.length), int(r, 3), cells[int(r, cells.length)]!];
            table[row]![col] = cell;
            const text = `f1,f2,label\n${table.map((t) => t.join(',')).join('\n')}\n`;
            return {
              bytes: new TextEncoder().encode(text),
              how: `line ${row + 2}, column ${col}: ${JSON.stringify(cell)}`,
            };
          })();
    return oneCase(
      `case ${i}: ${how}`,
      () => loadCsvTable({ train: '/data/t.csv', label: 'label' }, async () => bytes),
      {
        // Besides the file's own faults, two about the whole table name its field alone: the class count, no rows.
        named:
          /^invalid input: (data\.csv\.train: \/data\/t\.csv: \S|data\.csv\.label: column "label" has|data\.csv\.train: no (column "label"|rows left|feature columns))/,
        own: true,
      },
      (ds) => {
        assert.ok(!ds.classNames.includes(''), `case ${i}: an empty label became a class`);
        for (const s of [ds.train, ds.test]) {
          assert.ok((s.images as Float32Array).every(Number.isFinite), `case ${i}: a feature not finite`);
          assert.ok(
            s.labels.every((l) => l < ds.numClasses),
            `case ${i}: a label past the classes`,
          );
        }
      },
    );
  });
});

/** A minimal ustar archive of `files` (what `tar cf` writes, enough for readTar). */
function tarOf(files: Record<string, Uint8Array>): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const [name, data] of Object.entries(files)) {
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(new TextEncoder().encode(s), at);
    put(name, 0);
    put('0000644\0', 100);
    put('0000000\0', 108);
    put('0000000\0', 116);
    put(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    put('00000000000\0', 136);
    put('        ', 148);
    h[156] = 0x30;
    put('ustar\x0000', 257);
    const sum = h.reduce((a, x) => a + x, 0);
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of blocks) out.set(b, (at += b.length) - b.length);
  return out;
}

test('fuzz: tar and tar.gz archives read or are refused by the tar reader itself', { timeout: 60_000 }, async () => {
  const clean = tarOf({
    'sm/saved_model.pb': bytesOf(rng(1), 700),
    'sm/variables/variables.index': bytesOf(rng(2), 90),
  });
  assert.deepEqual([...readTar(clean).keys()], ['sm/saved_model.pb', 'sm/variables/variables.index']);
  await fuzz('tar', 400, 37, async (r, i) => {
    const gz = r() < 0.3;
    const { bytes, how } = mutate(r, gz ? new Uint8Array(gzipSync(clean)) : clean);
    const where = { field: 'teachers.import.0.path', file: '/data/t.tar', format: 'tar archive' };
    const named = naming(where.field, where.file);
    return oneCase(
      `case ${i}: ${gz ? 'gzip ' : ''}${how}`,
      () => parseUserFile(where, () => readTar(bytes)),
      { named, own: true },
      (files) => {
        for (const name of files.keys()) assert.ok(!name.startsWith('/') && !name.split('/').includes('..'), name);
      },
    );
  });
});

test(
  'fuzz: chrysalis tensor files decode or fail as TensorCodecError, mapped to InvalidInput',
  { timeout: 60_000 },
  async () => {
    const clean = encodeTensors({
      logits: { dtype: 'float32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i) },
      labels: { dtype: 'uint8', shape: [3], data: Uint8Array.from([1, 2, 3]) },
    });
    const r = rng(41);
    const seen = { ok: 0, refused: 0 };
    for (let i = 0; i < 400; i++) {
      const { bytes, how } = mutate(r, clean);
      try {
        const t = decodeTensors(bytes);
        for (const [name, v] of Object.entries(t))
          assert.equal(
            v.data.length,
            v.shape.reduce((a, d) => a * d, 1),
            `case ${i} (${how}): ${name}`,
          );
        seen.ok++;
      } catch (err) {
        assert.ok(err instanceof TensorCodecError, `case ${i} (${how}): ${String(err)}`);
        const mapped = toFailure(err, 'computeSoftTargets');
        assert.ok(mapped instanceof ApplicationFailure && mapped.type === 'InvalidInput' && mapped.nonRetryable);
        seen.refused++;
      }
    }
    assert.ok(seen.ok > 0 && seen.refused > 40, JSON.stringify(seen));
  },
);

/** A local store, the compute activities and a small MNIST data plan, for the teacher files' fuzzing. */
async function importSetup() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fuzz-import-'));
  const store = new LocalArtifactStore(path.join(root, 'store'));
  const logger = createLogger({ name: 't', level: 'silent' });
  const backend = await initBackend({ requested: 'auto' });
  const compute = createComputeActivities({ store, logger, backend, dataRoots: [root] });
  const data = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 500, trainLimit: 600 },
    transfer: { kind: 'fraction', fraction: 0.05 },
    seed: 3,
  });
  return { root, store, compute, data };
}

/** After the cases: every import stored is one that loaded; a refused one left nothing under its key. */
async function onlyLoadedStored(store: LocalArtifactStore, loaded: Set<string>): Promise<void> {
  for (const key of await store.list('imports/')) {
    const sha = key.split('/')[1]!;
    assert.ok(loaded.has(sha), `${key} stored for an import that was refused`);
  }
}

test(
  'fuzz: .npy teacher logits load or are refused naming the field and the file; none stored',
  { timeout: 120_000 },
  async () => {
    const { root, store, compute, data } = await importSetup();
    const n = data.counts.transfer;
    const clean = encodeNpy(
      [n, 10],
      Float32Array.from({ length: n * 10 }, (_, i) => Math.cos(i)),
    );
    const loaded = new Set<string>();
    await fuzz('npy', 200, 43, async (r, i) => {
      const { bytes, how } = mutate(r, clean);
      const file = path.join(root, `case-${i}.npy`);
      writeFileSync(file, bytes);
      return oneCase(
        `case ${i}: ${how}`,
        () => compute.importTeachers({ imports: [{ kind: 'npy', path: file, outputs: 'logits' }], data }),
        { named: naming('teachers.import.0.path', file), own: true },
        (out) => loaded.add(out.teachers[0]!.sha256),
      );
    });
    await onlyLoadedStored(store, loaded);
  },
);

/** Every path to a value in `json` (objects and arrays), for replacing one with a value of another type. */
function valuePaths(json: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (json === null || typeof json !== 'object') return [at];
  const entries = Array.isArray(json) ? json.map((v, i) => [i, v] as const) : Object.entries(json);
  return [at, ...entries.flatMap(([k, v]) => valuePaths(v, [...at, k]))];
}

/** A value of a random type; numbers stay small, so a mutated layer size never asks for gigabytes. */
function wrongValue(r: Rand): unknown {
  return [null, 7, -1, 0, 2.5, 'x', '', true, [], {}, [1, 'a'], { units: 3 }][int(r, 12)];
}

test(
  'fuzz: tfjs model.json and shards load or are refused naming the field and the file; none stored',
  { timeout: 180_000 },
  async () => {
    const { root, store, compute, data } = await importSetup();
    const net = buildNet({ kind: 'mlp', hidden: [4] }, { inputShape: [28, 28], numClasses: 10, seed: 5 });
    const exported = await exportLayersModel(net, [28, 28], {});
    net.dispose();
    const loaded = new Set<string>();
    await fuzz('tfjs', 150, 47, async (r, i) => {
      const dir = path.join(root, `tfjs-${i}`);
      mkdirSync(dir);
      let json: unknown = structuredClone(exported.modelJson);
      let shard = exported.weights;
      let how: string;
      const kind = int(r, 3);
      if (kind === 0) {
        // A field of the wrong type anywhere in model.json.
        const paths = valuePaths(json);
        const p = paths[int(r, paths.length)]!;
        const value = wrongValue(r);
        if (p.length === 0) json = value;
        else {
          let o = json as Record<string | number, unknown>;
          for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
          o[p[p.length - 1]!] = value;
        }
        how = `${p.join('.') || '(root)'} = ${JSON.stringify(value)}`;
      } else if (kind === 1) {
        const m = mutate(r, new TextEncoder().encode(JSON.stringify(json)));
        writeFileSync(path.join(dir, 'model.json'), m.bytes);
        how = `model.json ${m.how}`;
      } else {
        const m = mutate(r, shard);
        shard = m.bytes;
        how = `shard ${m.how}`;
      }
      if (kind !== 1) writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      writeFileSync(path.join(dir, exported.weightsFile), shard);
      const file = path.join(dir, 'model.json');
      const imp: TeacherImport = { kind: 'tfjs', path: file, outputs: 'logits' };
      return oneCase(
        `case ${i}: ${how}`,
        () => compute.importTeachers({ imports: [imp], data }),
        // A teacher that loads but does not fit the data names the import ("teachers.import.0: teacher input shape").
        {
          named: new RegExp(
            `^invalid input: (teachers\\.import\\.0\\.path: ${literal(file)}: \\S|teachers\\.import\\.0: teacher (in|out)put shape)`,
          ),
          own: false,
        },
        (out) => loaded.add(out.teachers[0]!.sha256),
      );
    });
    await onlyLoadedStored(store, loaded);
  },
);

test(
  'fuzz: PNG and JPEG files in an image folder decode or are refused naming the field and the file',
  { timeout: 120_000 },
  async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fuzz-images-'));
    const pixels = tf.tensor3d(
      Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 37) % 256),
      [8, 8, 3],
      'int32',
    );
    const node = (await import('@tensorflow/tfjs-node')).node;
    const png = await node.encodePng(pixels);
    const jpeg = await node.encodeJpeg(pixels);
    pixels.dispose();
    await fuzz('images', 120, 53, async (r, i) => {
      const train = path.join(root, `case-${i}`);
      for (const c of ['a', 'b']) mkdirSync(path.join(train, c), { recursive: true });
      const asJpeg = r() < 0.5;
      const { bytes, how } = mutate(r, asJpeg ? jpeg : png);
      const file = path.join(train, 'a', asJpeg ? 'x.jpg' : 'x.png');
      writeFileSync(file, bytes);
      writeFileSync(path.join(train, 'b', 'y.png'), png);
      return oneCase(
        `case ${i}: ${asJpeg ? 'JPEG' : 'PNG'} ${how}`,
        () => loadImageFolders({ train, inputShape: [8, 8, 3], testFraction: 0.5 }, [root]),
        { named: naming('data.images.train', file), own: false },
        (ds) => assert.equal(ds.train.images.length + ds.test.images.length, 2 * 8 * 8 * 3),
      );
    });
  },
);

test(
  'fuzz: SavedModels, as a folder or a .tar.gz, of damaged bytes are refused naming the field and the file',
  { timeout: 120_000 },
  async () => {
    const { root, store, compute, data } = await importSetup();
    const pb = bytesOf(rng(5), 3000);
    await fuzz(
      'SavedModel',
      60,
      59,
      async (r, i) => {
        const archive = r() < 0.5;
        const { bytes, how } = mutate(r, pb);
        let file: string;
        if (archive) {
          file = path.join(root, `sm-${i}.tar.gz`);
          const packed = mutate(r, new Uint8Array(gzipSync(tarOf({ 'sm/saved_model.pb': bytes }))));
          writeFileSync(file, r() < 0.5 ? packed.bytes : gzipSync(tarOf({ 'sm/saved_model.pb': bytes })));
        } else {
          file = path.join(root, `sm-${i}`);
          mkdirSync(file);
          writeFileSync(path.join(file, 'saved_model.pb'), bytes);
        }
        const imp: TeacherImport = { kind: 'savedmodel', path: file, outputs: 'logits' };
        return oneCase(
          `case ${i}: ${archive ? 'archive, ' : ''}saved_model.pb ${how}`,
          () => compute.importTeachers({ imports: [imp], data }),
          { named: naming('teachers.import.0.path', file), own: false },
          () => assert.fail(`case ${i}: damaged bytes loaded as a SavedModel`),
        );
      },
      { allRefused: true },
    );
    assert.deepEqual(await store.list('imports/'), [], 'nothing stored of a refused import');
  },
);
