/**
 * Local paths that come from input are confined to the data roots (CHRYSALIS_DATA_ROOTS): a path is
 * refused — with the field, the path and the roots — before any file is opened if it is relative, has
 * a `..` segment, lies outside every root, or resolves (through symlinks) to a place outside them.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { invalidInput } from './input-failures';

/** True when `p` is `root` or below it (both absolute and normalised). */
function within(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function refuse(field: string, ref: string, why: string, roots: readonly string[]): never {
  throw invalidInput(
    `${field}: ${ref}: ${why}; local paths must lie under a data root ` +
      `(CHRYSALIS_DATA_ROOTS: ${roots.join(':') || 'none'})`,
  );
}

/**
 * The real path of the local file `ref` named by the config field `field`, or an InvalidInput. A path
 * that does not exist is returned as it is (resolved), so the reader reports it as missing.
 */
export async function confinedPath(ref: string, field: string, roots: readonly string[]): Promise<string> {
  if (!path.isAbsolute(ref)) refuse(field, ref, 'not an absolute path', roots);
  if (ref.split(/[\\/]/).includes('..')) refuse(field, ref, '".." segment in the path', roots);
  const resolved = path.resolve(ref);
  if (!roots.some((r) => within(resolved, r))) refuse(field, ref, 'outside the data roots', roots);
  const real = await realpath(resolved).catch(() => undefined);
  if (real === undefined) return resolved;
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => r)));
  if (!realRoots.some((r) => within(real, r))) refuse(field, ref, `a link to ${real}, outside the data roots`, roots);
  return real;
}
