#!/usr/bin/env node
/**
 * The `chrysalis` command. Errors print as one line; exit codes: 0 ok, 1 run failed, 2 usage/invalid config,
 * 3 unavailable.
 */
import { parseArgs } from 'node:util';
import { CliError, Exit } from './context';
import { exportCommand } from './export';
import { cancelCommand, listCommand, reportCommand, statusCommand } from './inspect';
import { predictCommand } from './predict';
import { runCommand } from './run';
import { scheduleCommand } from './schedule';

const USAGE =
  `usage: chrysalis <command> [options]

  run <distill|specialists|search|smoke> [--preset P] [--config file.json] [--set key=value …] ` +
  `[--detach] [--json] [--id ID]
  status <workflowId> [--json]      list [--json]      cancel <workflowId>
  report <workflowId> [--out dir] [--json]
  export <workflowId|exports/<digest>> --out dir [--json]   download the exported student or specialists package
  schedule create <id> <distill|specialists|smoke> (--every 24h | --cron "0 3 * * *") ` +
  `[--preset P] [--set k=v …] [--overlap skip]
  schedule list | trigger <id> | pause <id> | unpause <id> | describe <id> | delete <id>
  predict --model <dir|exports/<digest>|workflowId> <image.png|images.idx|table.csv …> [--limit N] [--top K] [--json]
                                    (a single exported model, or a generalist + specialists package)
  dev                               start the local dev stack (Ctrl-C stops it)

Settings come from the environment (TEMPORAL_ADDRESS, MINIO_*, …); unset ones fall back to .data/dev.env.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      preset: { type: 'string' },
      config: { type: 'string' },
      set: { type: 'string', multiple: true },
      detach: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      id: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      limit: { type: 'string' },
      top: { type: 'string' },
      every: { type: 'string' },
      cron: { type: 'string' },
      overlap: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, target] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? Exit.ok : Exit.usage;
  }
  const need = (what: string): string => {
    if (!target) throw new CliError(`${command} needs a ${what}\n${USAGE}`);
    return target;
  };
  switch (command) {
    case 'run':
      return runCommand({
        pipeline: need('pipeline (distill|specialists|search|smoke)'),
        preset: values.preset,
        configFile: values.config,
        set: values.set ?? [],
        detach: values.detach,
        json: values.json,
        workflowId: values.id,
      });
    case 'status':
      return statusCommand(need('workflow id'), values.json);
    case 'list':
      return listCommand(values.json);
    case 'cancel':
      return cancelCommand(need('workflow id'), values.json);
    case 'report':
      return reportCommand(need('workflow id'), values.out, values.json);
    case 'export':
      return exportCommand(need('workflow id or exports/<digest>'), values.out, values.json);
    case 'predict':
      return predictCommand(values.model, positionals.slice(1), {
        json: values.json,
        limit: Number(values.limit ?? 10),
        top: Number(values.top ?? 3),
      });
    case 'schedule': {
      const [, action, id, pipeline] = positionals;
      if (!action) throw new CliError(`schedule needs an action\n${USAGE}`);
      return scheduleCommand(action, id, {
        pipeline: pipeline ?? 'distill',
        preset: values.preset,
        configFile: values.config,
        set: values.set ?? [],
        json: values.json,
        every: values.every,
        cron: values.cron,
        overlap: values.overlap,
      });
    }
    case 'dev': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('../infra/dev-stack-main');
      return new Promise<number>(() => undefined); // runs until Ctrl-C
    }
    default:
      throw new CliError(`unknown command "${command}"\n${USAGE}`);
  }
}

// `chrysalis list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = err instanceof CliError ? err.code : Exit.runFailed;
    const msg = err instanceof Error ? err.message : String(err);
    const [first, ...rest] = msg.split('\n');
    // A CliError's further lines are detail meant for the user; other errors print their first line only.
    const detail = err instanceof CliError && rest.length > 0 ? `${rest.join('\n')}\n` : '';
    process.stderr.write(`chrysalis: ${first}\n${detail}`);
    process.exitCode = code;
  },
);
