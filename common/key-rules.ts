/**
 * What a store key from user input may look like. Keys name objects in one bucket; a key with `..`,
 * a leading `/`, an empty segment or control characters either escapes the layout every reader relies
 * on or is refused by the server with a message that names nothing. Checked at the boundary, by the
 * config schemas that accept keys and `minio:` references from users; keys chrysalis builds itself
 * come from common/store-keys.ts.
 */

/** Why `key` is not an acceptable store key, or undefined when it is. */
export function storeKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'empty key';
  if (key.length > 1024) return `key of ${key.length} characters (at most 1024)`;
  if (key.startsWith('/')) return 'absolute key (starts with "/"); store keys are relative, e.g. "datasets/train.idx"';
  if (/[\u0000-\u001f\u007f\\]/.test(key)) return 'control characters or backslashes in the key';
  const segments = key.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return '"." or ".." segment in the key';
  if (segments.slice(0, -1).some((s) => s === '') || segments.at(-1) === '')
    return 'empty segment ("//" or a trailing "/")';
  return undefined;
}
