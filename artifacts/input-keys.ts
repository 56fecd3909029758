/** The store objects a run's input names (with the config field of each), and the check that they all exist. */
import type { ArtifactStore } from '../storage/artifact-store';
import type { DataSpec, DistillationConfig } from '../config/schemas';
import { keys } from '../common/store-keys';
import { invalidInputIssues } from '../data/input-failures';

/** Store objects an input names, with the field that names each. */
export type NamedKey = { path: string; key: string };

/** `minio:` references of a data spec: the IDX files that live in the store. */
export function dataKeys(data: DataSpec): NamedKey[] {
  return Object.entries(data.idx ?? {}).flatMap(([field, ref]) =>
    typeof ref === 'string' && ref.startsWith('minio:')
      ? [{ path: `data.idx.${field}`, key: ref.slice('minio:'.length) }]
      : [],
  );
}

/**
 * Every object the input names must exist before any work starts: a run with a mistyped manifest key
 * fails at validation ("not found", with the key) instead of after the data is prepared.
 */
export async function requireExisting(store: ArtifactStore, named: NamedKey[]): Promise<void> {
  const missing = (await Promise.all(named.map(async (n) => ((await store.stat(n.key)) ? [] : [n])))).flat();
  if (missing.length > 0)
    throw invalidInputIssues(
      missing.map((m) => ({ path: m.path, message: `not found: no object "${m.key}" in the store` })),
    );
}

/** Store objects a distilling config names: its data files and given teachers or soft targets. */
export function teacherKeys(cfg: Pick<DistillationConfig, 'data' | 'teachers'>): NamedKey[] {
  const t = cfg.teachers;
  return [
    ...dataKeys(cfg.data),
    ...('refs' in t ? t.refs.map((r, i) => ({ path: `teachers.refs.${i}.manifestKey`, key: r.manifestKey })) : []),
    ...('softTargets' in t
      ? [{ path: 'teachers.softTargets.key', key: `${keys.softTargets(t.softTargets.key)}/manifest.json` }]
      : []),
  ];
}

/** The whole workflow input, options included, exactly as the workflow was started with it. */
