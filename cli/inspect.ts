/** Read commands (`status`, `list`, `report`) and `cancel`. Each takes --json for scripts. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ArtifactNotFoundError } from '../storage/errors';
import type { DistillationSummary } from '../workflows';
import { progressQuery } from '../workflows/progress';
import type { Progress } from '../common/progress';
import { CliError, Exit, connect } from './context';
import { render } from './progress-view';

const TYPES = ['distillationPipeline', 'specialistsPipeline', 'studentSearchPipeline', 'smokePipeline'];

async function withHandle<T>(
  workflowId: string,
  fn: (ctx: Awaited<ReturnType<typeof connect>>) => Promise<T>,
): Promise<T> {
  const ctx = await connect();
  try {
    return await fn(ctx);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`no run with workflow id "${workflowId}"`, Exit.unavailable);
    throw err;
  } finally {
    await ctx.close();
  }
}

export async function statusCommand(workflowId: string, json: boolean): Promise<number> {
  return withHandle(workflowId, async (ctx) => {
    const handle = ctx.client.workflow.getHandle(workflowId);
    const d = await handle.describe();
    let progress: Progress | undefined;
    try {
      progress = await handle.query(progressQuery);
    } catch {
      progress = undefined; // e.g. no worker is polling right now
    }
    if (json) {
      const status = {
        workflowId,
        runId: d.runId,
        type: d.type,
        status: d.status.name,
        startTime: d.startTime,
        closeTime: d.closeTime ?? null,
        progress: progress ?? null,
      };
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    } else {
      const closed = d.closeTime ? `  closed ${d.closeTime.toISOString()}` : '';
      process.stdout.write(
        `${workflowId}  ${d.type}  ${d.status.name}  started ${d.startTime.toISOString()}${closed}\n`,
      );
      if (progress) process.stdout.write(`${render(progress).join('\n')}\n`);
    }
    return Exit.ok;
  });
}

export async function listCommand(json: boolean, limit = 20): Promise<number> {
  const ctx = await connect();
  try {
    const rows: { workflowId: string; type: string; status: string; startTime: string }[] = [];
    for await (const w of ctx.client.workflow.list({
      query: `WorkflowType IN (${TYPES.map((t) => `'${t}'`).join(', ')})`,
    })) {
      rows.push({
        workflowId: w.workflowId,
        type: w.type,
        status: w.status.name,
        startTime: w.startTime.toISOString(),
      });
      if (rows.length >= limit) break;
    }
    if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (rows.length === 0) process.stdout.write('no chrysalis runs\n');
    else
      for (const r of rows)
        process.stdout.write(`${r.startTime}  ${r.status.padEnd(10)} ${r.type.padEnd(22)} ${r.workflowId}\n`);
    return Exit.ok;
  } finally {
    await ctx.close();
  }
}

export async function cancelCommand(workflowId: string, json: boolean): Promise<number> {
  return withHandle(workflowId, async (ctx) => {
    await ctx.client.workflow.getHandle(workflowId).cancel();
    process.stdout.write(
      json
        ? `${JSON.stringify({ workflowId, cancelRequested: true })}\n`
        : `cancellation requested for ${workflowId}\n`,
    );
    return Exit.ok;
  });
}

export async function reportCommand(workflowId: string, out: string | undefined, json: boolean): Promise<number> {
  return withHandle(workflowId, async (ctx) => {
    const d = await ctx.client.workflow.getHandle(workflowId).describe();
    if (d.status.name !== 'COMPLETED')
      throw new CliError(
        `run ${workflowId} is ${d.status.name}; its report exists once it completes`,
        Exit.unavailable,
      );
    const summary = (await ctx.client.workflow.getHandle(workflowId).result()) as DistillationSummary;
    if (!summary.report) throw new CliError(`run ${workflowId} (${d.type}) has no report`, Exit.unavailable);
    const store = await ctx.store();
    try {
      const md = new TextDecoder().decode(await store.get(summary.report.markdown));
      const js = new TextDecoder().decode(await store.get(summary.report.json));
      if (out) {
        mkdirSync(path.join(out, 'charts'), { recursive: true });
        const files: string[] = [];
        const save = (name: string, data: string | Uint8Array) => {
          writeFileSync(path.join(out, name), data);
          files.push(path.join(out, name));
        };
        save('report.md', md);
        save('report.json', js);
        if (summary.report.html) save('report.html', await store.get(summary.report.html));
        for (const key of summary.report.charts ?? []) save(`charts/${path.basename(key)}`, await store.get(key));
        process.stdout.write(
          json
            ? `${JSON.stringify({ workflowId, files })}\n`
            : `wrote ${files.length} files to ${out} (open ${path.join(out, 'report.html')})\n`,
        );
      } else {
        process.stdout.write(json ? js : md);
      }
    } catch (err) {
      if (err instanceof ArtifactNotFoundError)
        throw new CliError(`report of ${workflowId} is missing from the store: ${err.key}`, Exit.unavailable);
      throw err;
    }
    return Exit.ok;
  });
}
