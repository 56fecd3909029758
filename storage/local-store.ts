/** Directory-backed {@link ArtifactStore} for unit tests and single-host experiments. */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactRef, ArtifactStore } from './artifact-store';
import { verify } from './artifact-store';
import { ArtifactNotFoundError } from './errors';
import { sha256Hex } from './hash';

export class LocalArtifactStore implements ArtifactStore {
  constructor(private readonly root: string) {}

  private file(key: string): string {
    const p = path.resolve(this.root, key);
    if (!p.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`artifact key escapes the store: ${key}`);
    return p;
  }

  async put(key: string, data: Uint8Array): Promise<ArtifactRef> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    const sha256 = sha256Hex(data);
    // Data first, digest last, both via rename: a reader sees either nothing or a complete object.
    await writeFile(`${file}.tmp`, data);
    await rename(`${file}.tmp`, file);
    await writeFile(`${file}.sha256.tmp`, sha256);
    await rename(`${file}.sha256.tmp`, `${file}.sha256`);
    return { key, sha256, bytes: data.length };
  }

  async get(ref: ArtifactRef | string): Promise<Uint8Array> {
    const key = typeof ref === 'string' ? ref : ref.key;
    const stat = await this.stat(key);
    if (!stat) throw new ArtifactNotFoundError(key);
    const data = new Uint8Array(await readFile(this.file(key)));
    return verify(key, data, typeof ref === 'string' ? stat.sha256 : ref.sha256);
  }

  async stat(key: string): Promise<ArtifactRef | undefined> {
    try {
      const sha256 = (await readFile(`${this.file(key)}.sha256`, 'utf8')).trim();
      const bytes = (await readFile(this.file(key))).length;
      return { key, sha256, bytes };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (!e.name.endsWith('.sha256') && !e.name.endsWith('.tmp'))
          out.push(path.relative(this.root, full).split(path.sep).join('/'));
      }
    };
    await walk(this.root);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
    await rm(`${this.file(key)}.sha256`, { force: true });
  }
}
