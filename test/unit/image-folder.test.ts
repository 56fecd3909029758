import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createComputeActivities } from '../../activities/compute';
import { loadImageFolders } from '../../data/images';
import { createLogger } from '../../config';
import { resolveDistillationInput } from '../../config/resolve';
import { initBackend } from '../../ml';
import type { BackendInfo } from '../../ml/backend';
import { renderDistillationReport } from '../../reports/distillation-markdown';
import { LocalArtifactStore } from '../../storage/local-store';
import { emptyReport } from '../helpers/reports';

interface TfNodeTest {
  node: { encodePng(t: unknown): Promise<Uint8Array> };
  tensor3d(v: Uint8Array, shape: [number, number, number], dtype: 'int32'): { dispose(): void };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tfn = require('@tensorflow/tfjs-node') as TfNodeTest;

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'tensorflow' });
});

/** A w×h RGB PNG filled with one colour. */
async function png(w: number, h: number, rgb: [number, number, number]): Promise<Uint8Array> {
  const t = tfn.tensor3d(
    Uint8Array.from({ length: w * h * 3 }, (_, i) => rgb[i % 3]!),
    [h, w, 3],
    'int32',
  );
  const bytes = await tfn.node.encodePng(t);
  t.dispose();
  return bytes;
}

async function folder(): Promise<string> {
  const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'images-')));
  for (const [cls, rgb] of [
    ['red', [250, 0, 0]],
    ['blue', [0, 0, 250]],
  ] as const) {
    mkdirSync(path.join(root, 'train', cls), { recursive: true });
    for (let i = 0; i < 10; i++)
      writeFileSync(path.join(root, 'train', cls, `${i}.png`), await png(20 + i, 20, [...rgb]));
    writeFileSync(path.join(root, 'train', cls, 'notes.txt'), 'not an image');
  }
  return root;
}

test('image folders: classes from folder names, resized RGB pixels, a path-hashed test split', async () => {
  const root = await folder();
  const spec = { train: path.join(root, 'train'), inputShape: [16, 16, 3] as [16, 16, 3], testFraction: 0.3 };
  const ds = await loadImageFolders(spec, [root]);
  assert.deepEqual(ds.classNames, ['blue', 'red']);
  assert.deepEqual(ds.shape, [16, 16, 3]);
  assert.equal(ds.train.n + ds.test.n, 20);
  assert.ok(ds.test.n > 0 && ds.train.n > ds.test.n, `split ${ds.train.n}/${ds.test.n}`);
  const first = ds.train.labels[0]!;
  const px = Array.from(ds.train.images.subarray(0, 3));
  assert.deepEqual(px, first === 0 ? [0, 0, 250] : [250, 0, 0], 'the class colour survives the resize');
  const again = await loadImageFolders(spec, [root]);
  assert.equal(again.digest, ds.digest, 'the same files give the same digest and split');
  const moved = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'images-moved-')));
  cpSync(path.join(root, 'train'), path.join(moved, 'train'), { recursive: true });
  const elsewhere = await loadImageFolders({ ...spec, train: path.join(moved, 'train') }, [moved]);
  assert.equal(elsewhere.digest, ds.digest, 'the folder moved: the same split (hashed below the training folder)');
  writeFileSync(path.join(root, 'train', 'red', '3.png'), await png(20, 20, [200, 10, 10]));
  assert.notEqual((await loadImageFolders(spec, [root])).digest, ds.digest, 'a changed file changes the digest');
});

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure && err.type === 'InvalidInput' && err.nonRetryable, String(err));
  return err.message;
}

const REFUSED_FILES_TEST =
  'image folders: a corrupt file, a link out of the roots and an unknown test class are refused by name';
test(REFUSED_FILES_TEST, async () => {
  const root = await folder();
  const spec = { train: path.join(root, 'train'), inputShape: [16, 16, 3] as [16, 16, 3] };
  writeFileSync(path.join(root, 'train', 'red', '4.png'), (await png(20, 20, [1, 2, 3])).subarray(0, 40));
  assert.match(
    await refusal(loadImageFolders(spec, [root])),
    /^invalid input: data\.images\.train: .*\/train\/red\/4\.png: not a readable PNG or JPEG/,
  );
  const root2 = await folder();
  const outside = mkdtempSync(path.join(os.tmpdir(), 'outside-'));
  writeFileSync(path.join(outside, 'x.png'), await png(4, 4, [0, 0, 0]));
  symlinkSync(path.join(outside, 'x.png'), path.join(root2, 'train', 'red', 'link.png'));
  assert.match(
    await refusal(loadImageFolders({ ...spec, train: path.join(root2, 'train') }, [root2])),
    /data\.images\.train: .*link\.png: a link to .*outside the data roots/,
  );
  mkdirSync(path.join(root2, 'test', 'green'), { recursive: true });
  writeFileSync(path.join(root2, 'test', 'green', 'g.png'), await png(4, 4, [0, 250, 0]));
  assert.equal(
    await refusal(
      loadImageFolders({ ...spec, train: path.join(root, 'train'), test: path.join(root2, 'test') }, [root, root2]),
    ),
    'invalid input: data.images.test: class folders not in the training folder: green',
  );
  assert.match(await refusal(loadImageFolders(spec, ['/nowhere'])), /data\.images\.train: .*: outside the data roots/);
});

const IGNORED_FILES_TEST =
  'image folders: files that are not PNG or JPEG are counted and named in the data plan and the report, not dropped';
test(IGNORED_FILES_TEST, async () => {
  const root = await folder();
  writeFileSync(path.join(root, 'train', 'README'), 'about the classes');
  const spec = { train: path.join(root, 'train'), inputShape: [16, 16, 3] as [16, 16, 3] };
  const note = 'data.images.train: ignored 3 files: README, blue/notes.txt, red/notes.txt (not PNG or JPEG)';
  assert.deepEqual((await loadImageFolders(spec, [root])).ignored, [note]);
  const store = new LocalArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'images-store-')));
  const logger = createLogger({ name: 't', level: 'silent' });
  const compute = createComputeActivities({ store, logger, backend, dataRoots: [root] });
  const data = await compute.prepareData({
    data: { dataset: 'images', images: spec, validationSize: 2 },
    transfer: { kind: 'full' },
    seed: 1,
  });
  assert.deepEqual(data.ignored, [note], 'the data plan names them');
  const r = resolveDistillationInput({ preset: 'mnist-quick' });
  assert.ok(r.ok);
  const md = renderDistillationReport(emptyReport(r.config, { dataIgnored: data.ignored }));
  assert.match(
    md,
    new RegExp(`^# chrysalis run w\\n\\n> \\*\\*Data files:\\*\\* ${note.replace(/[.()]/g, '\\$&')}\\.\\n`),
  );
  const clean = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'images-clean-')));
  cpSync(path.join(root, 'train', 'red'), path.join(clean, 'red'), { recursive: true });
  cpSync(path.join(root, 'train', 'blue'), path.join(clean, 'blue'), { recursive: true });
  for (const c of ['red', 'blue']) rmSync(path.join(clean, c, 'notes.txt'));
  assert.equal((await loadImageFolders({ ...spec, train: clean }, [clean])).ignored, undefined, 'none: no note');
});

test('image folders: a folder named like an image is ignored and named; a dangling link is refused by name', async () => {
  const root = await folder();
  mkdirSync(path.join(root, 'train', 'red', 'more.png'));
  const spec = { train: path.join(root, 'train'), inputShape: [16, 16, 3] as [16, 16, 3] };
  assert.deepEqual((await loadImageFolders(spec, [root])).ignored, [
    'data.images.train: ignored 3 files: blue/notes.txt, red/more.png, red/notes.txt (not PNG or JPEG)',
  ]);
  symlinkSync(path.join(root, 'nowhere.png'), path.join(root, 'train', 'blue', 'gone.png'));
  assert.match(
    await refusal(loadImageFolders(spec, [root])),
    /^invalid input: data\.images\.train: .*\/train\/blue\/gone\.png: cannot read it \(ENOENT\)$/,
  );
});
