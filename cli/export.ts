/**
 * `chrysalis export <ref> --out dir`: download what a run exported — the distilled student (a layers
 * model) or the generalist + specialists package — to a local directory, ready for plain
 * `@tensorflow/tfjs` or a web server. <ref> is a workflow id or an `exports/<digest>` prefix.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { keys } from '../common/store-keys';
import type { DistillationSummary, SpecialistsSummary } from '../workflows';
import { CliError, Exit, connect } from './context';
import type { CliContext } from './context';

/** The exports/<digest> prefix a ref names: given as such, or the export of a finished run. */
export async function resolveExportPrefix(ctx: CliContext, ref: string, flag: string): Promise<string> {
  const prefix = ref.replace(/\/((model|combination)\.json)?$/, '');
  if (keys.isExportDir(prefix)) return prefix;
  const handle = ctx.client.workflow.getHandle(ref);
  // A run still going would block result() until it ends: say so instead.
  const status = (await handle.describe().catch(() => undefined))?.status.name;
  if (status !== undefined && status !== 'COMPLETED')
    throw new CliError(`${flag} ${ref}: the run is ${status}; its export exists once it completes`, Exit.unavailable);
  const summary = status ? ((await handle.result()) as DistillationSummary | SpecialistsSummary) : undefined;
  const exported = summary?.exported as { modelJson?: string; dir?: string } | undefined;
  const found = exported?.dir ?? exported?.modelJson?.replace(/\/model\.json$/, '');
  if (!found)
    throw new CliError(
      `${flag} ${ref}: not an exports/<digest> key or a finished run with an exported model`,
      Exit.unavailable,
    );
  return found;
}

/** Every object under the prefix, by its path inside the export. */
export async function fetchExport(ctx: CliContext, prefix: string): Promise<Map<string, Uint8Array>> {
  const store = await ctx.store();
  const files = new Map<string, Uint8Array>();
  for (const key of await store.list(`${prefix}/`)) files.set(key.slice(prefix.length + 1), await store.get(key));
  if (files.size === 0) throw new CliError(`minio:${prefix}: nothing stored there`, Exit.unavailable);
  return files;
}

export async function exportCommand(ref: string, out: string | undefined, json: boolean): Promise<number> {
  if (!out) throw new CliError('export needs --out <dir>');
  const ctx = await connect();
  try {
    const prefix = await resolveExportPrefix(ctx, ref, 'export');
    const files = await fetchExport(ctx, prefix);
    const written: string[] = [];
    for (const [rel, bytes] of files) {
      const file = path.join(out, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, bytes);
      written.push(file);
    }
    const kind = files.has('combination.json') ? 'combination' : 'model';
    const what =
      kind === 'combination' ? 'generalist + specialists package; see its README.md' : 'TensorFlow.js layers model';
    process.stdout.write(
      json
        ? `${JSON.stringify({ source: `minio:${prefix}`, kind, files: written })}\n`
        : `wrote ${written.length} files from minio:${prefix} to ${out} (${what})\n`,
    );
    return Exit.ok;
  } finally {
    await ctx.close();
  }
}
