/** storage/tar.ts against archives written by Python's tarfile (pax, GNU) and by hand-made bad ones. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TarError, readTar } from '../../storage/tar';

const LONG = `variables/${'v'.repeat(120)}.index`;

/** An archive Python writes: a directory tree with a long name, an empty file, a link and a directory entry. */
function pythonTar(format: 'PAX_FORMAT' | 'GNU_FORMAT', mode: 'w:gz' | 'w'): Uint8Array {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'tar-')), 'a.tar');
  const script = `
import io, sys, tarfile
with tarfile.open(sys.argv[1], ${JSON.stringify(mode)}, format=tarfile.${format}) as t:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
    d = tarfile.TarInfo("model/variables"); d.type = tarfile.DIRTYPE; t.addfile(d)
    add("model/saved_model.pb", bytes(range(256)) * 3)
    add("model/${LONG}", b"long name")
    add("model/empty", b"")
    l = tarfile.TarInfo("model/link"); l.type = tarfile.SYMTYPE; l.linkname = "saved_model.pb"; t.addfile(l)
`;
  const r = spawnSync('python3', ['-c', script, out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return new Uint8Array(readFileSync(out));
}

test('tar archives from Python (pax and GNU long names, gzip or not): regular files by path, links skipped', () => {
  for (const [format, mode] of [
    ['PAX_FORMAT', 'w:gz'],
    ['GNU_FORMAT', 'w'],
  ] as const) {
    const files = readTar(pythonTar(format, mode));
    assert.deepEqual([...files.keys()].sort(), ['model/empty', `model/${LONG}`, 'model/saved_model.pb'].sort());
    assert.equal(files.get('model/saved_model.pb')!.length, 768);
    assert.equal(files.get('model/saved_model.pb')![255], 255);
    assert.equal(new TextDecoder().decode(files.get(`model/${LONG}`)), 'long name');
  }
});

test('bad archives are refused: "..", truncation, a broken checksum, not gzip', () => {
  const good = readTar(pythonTar('PAX_FORMAT', 'w'));
  assert.ok(good.size > 0);
  const raw = pythonTar('GNU_FORMAT', 'w');
  assert.throws(() => readTar(raw.subarray(0, 700)), TarError);
  const broken = raw.slice();
  broken[0] = broken[0]! ^ 1;
  assert.throws(() => readTar(broken), /checksum/);
  const evil = raw.slice();
  const name = new TextEncoder().encode('../escape');
  // Rewrite the first header's name and fix its checksum: the archive is then well formed but hostile.
  evil.fill(0, 0, 100);
  evil.set(name, 0);
  const sum = evil.subarray(0, 512).reduce((a, x, i) => a + (i >= 148 && i < 156 ? 32 : x), 0);
  evil.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  assert.throws(() => readTar(evil), /entries must be relative paths without "\.\."/);
  assert.throws(() => readTar(Uint8Array.from([0x1f, 0x8b, 1, 2, 3])), /not a readable gzip stream/);
});
