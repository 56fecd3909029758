/**
 * Unions whose variant is chosen by which key an object carries (`{ count, … }` | `{ refs }` |
 * `{ softTargets }`), for config objects that have no `kind` field. zod's `discriminatedUnion` needs a
 * literal discriminator and a plain `union` reports every variant's issues at once, so a user who
 * meant `refs` reads errors about `count`. Here the tag picks one variant and only its issues show,
 * each naming the variant. The tags also drive override merging (config/resolve.ts): an override that
 * switches variant replaces the preset's object instead of merging into it.
 */
import { z } from 'zod';

/** The tags of each keyed union, one group per union (a tag may be a plain key elsewhere). */
const TAG_GROUPS: string[][] = [];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A union of strict objects keyed by tag: `variants[tag]` parses an object that has the key `tag`.
 * @param what how messages name the union's variants, e.g. "teachers"
 */
export function keyedUnion<const V extends Record<string, z.ZodType>>(
  what: string,
  variants: V,
): z.ZodType<z.output<V[keyof V]>, z.input<V[keyof V]>> {
  const tags = Object.keys(variants);
  TAG_GROUPS.push(tags);
  const expected = `give exactly one of ${tags.map((t) => `"${t}"`).join(', ')}`;
  return z.unknown().transform((value, ctx) => {
    if (!isPlainObject(value)) {
      ctx.addIssue({ code: 'custom', message: `expected an object: ${expected}` });
      return z.NEVER;
    }
    const present = tags.filter((t) => Object.hasOwn(value, t));
    if (present.length !== 1) {
      const got =
        present.length === 0 ? `got keys ${JSON.stringify(Object.keys(value))}` : `got ${present.join(' and ')}`;
      ctx.addIssue({ code: 'custom', message: `${expected} (${got})` });
      return z.NEVER;
    }
    const tag = present[0]!;
    const parsed = variants[tag]!.safeParse(value);
    if (parsed.success) return parsed.data as z.output<V[keyof V]>;
    for (const issue of parsed.error.issues) {
      // The variant's own issue (code, keys, path) re-raised with the variant named in its message.
      const named = { ...issue, message: `${issue.message} (${what} given by "${tag}")` };
      ctx.addIssue(named);
    }
    return z.NEVER;
  }) as unknown as z.ZodType<z.output<V[keyof V]>, z.input<V[keyof V]>>;
}

/**
 * Whether `over` names a different variant than `base`: another `kind`, or other tags of one keyed
 * union (`{ refs }` over `{ count, model, train }`; `{ model, … }` over `{ ref }`).
 */
export function switchesVariant(base: Record<string, unknown>, over: Record<string, unknown>): boolean {
  if (Object.hasOwn(over, 'kind') && Object.hasOwn(base, 'kind')) return over['kind'] !== base['kind'];
  return TAG_GROUPS.some((group) => {
    const inOver = group.filter((t) => Object.hasOwn(over, t));
    const inBase = group.filter((t) => Object.hasOwn(base, t));
    return inOver.length > 0 && inBase.length > 0 && !inOver.some((t) => inBase.includes(t));
  });
}
