/**
 * `chrysalis schedule create|list|trigger|pause|unpause|delete`: retraining on a schedule. Overlap
 * policy SKIP by default (a run still training blocks the next one rather than stacking up). Each
 * scheduled run prepares data at its own start (so it sees the dataset version current then) and
 * reuses teachers and soft targets whose recipe is unchanged, through the content-addressed caches.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError } from '@temporalio/client';
import type { ScheduleOverlapPolicy } from '@temporalio/client';
import { CliError, Exit, connect } from './context';
import { PIPELINES, buildInput } from './run';
import type { RunArgs } from './run';

export interface ScheduleArgs extends Omit<RunArgs, 'detach' | 'workflowId'> {
  scheduleId?: string | undefined;
  every?: string | undefined;
  cron?: string | undefined;
  overlap?: string | undefined;
}

const OVERLAP: Record<string, ScheduleOverlapPolicy> = {
  skip: 'SKIP',
  'buffer-one': 'BUFFER_ONE',
  'buffer-all': 'BUFFER_ALL',
  'cancel-other': 'CANCEL_OTHER',
  'terminate-other': 'TERMINATE_OTHER',
  'allow-all': 'ALLOW_ALL',
};

export async function scheduleCommand(action: string, id: string | undefined, args: ScheduleArgs): Promise<number> {
  const ctx = await connect();
  const out = (json: unknown, text: string) =>
    process.stdout.write(args.json ? `${JSON.stringify(json)}\n` : `${text}\n`);
  try {
    if (action === 'list') {
      const rows: { scheduleId: string; workflowType: string | null; paused: boolean; next: string | null }[] = [];
      for await (const s of ctx.client.schedule.list()) {
        rows.push({
          scheduleId: s.scheduleId,
          workflowType: s.action?.type === 'startWorkflow' ? s.action.workflowType : null,
          paused: s.state.paused,
          next: s.info.nextActionTimes[0]?.toISOString() ?? null,
        });
      }
      if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length === 0) process.stdout.write('no schedules\n');
      else
        for (const r of rows)
          process.stdout.write(
            `${r.scheduleId.padEnd(32)} ${String(r.workflowType).padEnd(22)} ` +
              `${r.paused ? 'PAUSED ' : 'active '} next ${r.next ?? '-'}\n`,
          );
      return Exit.ok;
    }
    if (!id) throw new CliError(`schedule ${action} needs a schedule id`);
    const handle = ctx.client.schedule.getHandle(id);
    try {
      switch (action) {
        case 'create': {
          if (!args.every === !args.cron)
            throw new CliError('schedule create needs exactly one of --every (e.g. 24h) or --cron (e.g. "0 3 * * *")');
          const overlap = OVERLAP[args.overlap ?? 'skip'];
          if (!overlap) throw new CliError(`--overlap must be one of: ${Object.keys(OVERLAP).join(', ')}`);
          const { pipeline, input } = buildInput(
            { ...args, detach: true },
            { computeQueue: ctx.env.CHRYSALIS_COMPUTE_QUEUE },
          );
          await ctx.client.schedule.create({
            scheduleId: id,
            spec: args.every
              ? { intervals: [{ every: args.every as `${number}h` }] }
              : { cronExpressions: [args.cron!] },
            action: {
              type: 'startWorkflow',
              workflowType: PIPELINES[pipeline].workflowType,
              workflowId: `${id}-run`,
              taskQueue: ctx.env.CHRYSALIS_PIPELINE_QUEUE,
              args: [input],
            },
            policies: { overlap },
          });
          out(
            { scheduleId: id, created: true },
            `schedule ${id} created: ${pipeline} ${args.every ? `every ${args.every}` : `cron "${args.cron}"`}, ` +
              `overlap ${overlap}`,
          );
          return Exit.ok;
        }
        case 'trigger':
          await handle.trigger();
          out({ scheduleId: id, triggered: true }, `schedule ${id} triggered`);
          return Exit.ok;
        case 'pause':
          await handle.pause('paused via chrysalis');
          out({ scheduleId: id, paused: true }, `schedule ${id} paused`);
          return Exit.ok;
        case 'unpause':
          await handle.unpause('unpaused via chrysalis');
          out({ scheduleId: id, paused: false }, `schedule ${id} unpaused`);
          return Exit.ok;
        case 'delete':
          await handle.delete();
          out({ scheduleId: id, deleted: true }, `schedule ${id} deleted`);
          return Exit.ok;
        case 'describe': {
          const d = await handle.describe();
          if (args.json) {
            const description = {
              scheduleId: id,
              workflowType: d.action.type === 'startWorkflow' ? d.action.workflowType : null,
              paused: d.state.paused,
              overlap: d.policies.overlap,
              recentActions: d.info.recentActions.map((a) =>
                a.action.type === 'startWorkflow' ? a.action.workflow.workflowId : null,
              ),
            };
            process.stdout.write(`${JSON.stringify(description, null, 2)}\n`);
          } else
            process.stdout.write(
              `${id}: ${d.state.paused ? 'paused' : 'active'}, overlap ${d.policies.overlap}, ` +
                `${d.info.numActionsTaken} runs started\n`,
            );
          return Exit.ok;
        }
        default:
          throw new CliError(
            `unknown schedule action "${action}"; expected create, list, trigger, pause, unpause, delete, describe`,
          );
      }
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new CliError(`no schedule "${id}"`, Exit.unavailable);
      if (err instanceof ScheduleAlreadyRunning) throw new CliError(`schedule "${id}" already exists`, Exit.usage);
      throw err;
    }
  } finally {
    await ctx.close();
  }
}
