/**
 * `chrysalis run <distill|smoke|specialists|search> …`: validate locally, start (or attach to) the workflow,
 * show progress, print results.
 */
import { readFileSync } from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { defineSearchAttributeKey } from '@temporalio/common';
import {
  applySetters,
  formatIssues,
  resolveDistillationInput,
  resolveSearchInput,
  resolveSmokeInput,
} from '../config/resolve';
import { resolveSpecialistsInput } from '../config/specialists';
import type { PipelineInput, RunOptions } from '../config/resolve';
import { digestOf } from '../storage/hash';
import type { DistillationSummary, SmokeSummary } from '../workflows';
import type { SpecialistsSummary } from '../workflows/specialists';
import type { SearchSummary } from '../workflows/search';
import { progressQuery } from '../workflows/progress';
import { CliError, Exit, cliEnv, connect } from './context';
import { ProgressView } from './progress-view';

export const PIPELINES = {
  distill: { workflowType: 'distillationPipeline', defaultPreset: 'mnist-quick', resolve: resolveDistillationInput },
  smoke: { workflowType: 'smokePipeline', defaultPreset: 'smoke', resolve: resolveSmokeInput },
  specialists: {
    workflowType: 'specialistsPipeline',
    defaultPreset: 'fashion-specialists',
    resolve: resolveSpecialistsInput,
  },
  search: { workflowType: 'studentSearchPipeline', defaultPreset: 'mnist-search', resolve: resolveSearchInput },
} as const;
export type PipelineName = keyof typeof PIPELINES;

export const searchAttributes = {
  pipeline: defineSearchAttributeKey('ChrysalisPipeline', 'KEYWORD'),
  dataset: defineSearchAttributeKey('ChrysalisDataset', 'KEYWORD'),
  preset: defineSearchAttributeKey('ChrysalisPreset', 'KEYWORD'),
};

export interface RunArgs {
  pipeline: string;
  preset?: string | undefined;
  configFile?: string | undefined;
  set: string[];
  detach: boolean;
  json: boolean;
  workflowId?: string | undefined;
}

/**
 * Builds the workflow input from CLI flags and the run options, and validates all of it exactly as
 * the first activity will.
 */
export function buildInput(
  args: RunArgs,
  options: RunOptions = {},
): {
  pipeline: PipelineName;
  input: PipelineInput;
  workflowId: string;
  dataset: string;
  label: string;
} {
  if (!(args.pipeline in PIPELINES))
    throw new CliError(`unknown pipeline "${args.pipeline}"; expected one of: ${Object.keys(PIPELINES).join(', ')}`);
  const pipeline = args.pipeline as PipelineName;
  const p = PIPELINES[pipeline];
  const withOptions = Object.keys(options).length > 0 ? { options } : {};
  let input: PipelineInput;
  if (args.configFile) {
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(readFileSync(args.configFile, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`cannot read config ${args.configFile}: ${(err as Error).message}`);
    }
    input = { config: applySetters(config, args.set), ...withOptions };
  } else {
    let overrides: Record<string, unknown>;
    try {
      overrides = applySetters({}, args.set);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    input = {
      preset: args.preset ?? p.defaultPreset,
      ...(args.set.length > 0 ? { overrides } : {}),
      ...withOptions,
    };
  }
  const resolved = p.resolve(input);
  if (!resolved.ok) throw new CliError(formatIssues(resolved.issues));
  const cfg = resolved.config as { data: { dataset: string }; name?: string };
  const label = input.preset ?? cfg.name ?? 'custom';
  // Same pipeline + same resolved config ⇒ same id: starting it twice attaches instead of duplicating work.
  const workflowId = args.workflowId ?? `${pipeline}-${label}-${digestOf(resolved.config, 8)}`;
  return { pipeline, input, workflowId, dataset: cfg.data.dataset, label };
}

async function follow<T>(handle: WorkflowHandle, json: boolean): Promise<T> {
  const view = json ? undefined : new ProgressView(process.stderr);
  let done = false;
  const result = handle.result().finally(() => {
    done = true;
  }) as Promise<T>;
  while (!done) {
    try {
      view?.update(await handle.query(progressQuery));
    } catch {
      // The first workflow task may not have run yet; try again on the next tick.
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  }
  try {
    view?.update(await handle.query(progressQuery));
  } catch {
    // Completed runs still answer queries while their history is retained; ignore otherwise.
  }
  return result;
}

function printDistillation(s: DistillationSummary): void {
  const rows = s.models.map(
    (m) => `| ${m.name} | ${m.role} | ${m.errors} | ${(m.accuracy * 100).toFixed(2)}% | ${m.cached ? 'cached' : ''} |`,
  );
  process.stdout.write(
    [
      `\nrun ${s.workflowId}: soft targets ${s.softTargets.cacheHit ? 'from cache' : 'computed'} ` +
        `(${s.softTargets.key})`,
      '| model | role | test errors | accuracy | |',
      '|---|---|---|---|---|',
      ...rows,
      ...(s.ensemble
        ? [`| teacher ensemble | ensemble | ${s.ensemble.errors} | ${(s.ensemble.accuracy * 100).toFixed(2)}% | |`]
        : []),
      ...(s.notEvaluated ?? []).map((x) => `not scored: ${x.name}: ${x.reason}`),
      `report: chrysalis report ${s.workflowId}  (MinIO ${s.report.markdown})`,
      ...(s.warnings ?? []).map((w) => `warning: ${w}`),
      '',
    ].join('\n'),
  );
}

const braces = (xs: number[]) => `{${xs.join(',')}}`;
const specialistLabel = (x: SpecialistsSummary['specialists'][number]) =>
  `${x.name} ${braces(x.subset)}${x.cached ? ' (cached)' : ''}`;

function printSpecialists(s: SpecialistsSummary): void {
  const g = s.generalist.errors;
  const vs = (errors: number) =>
    `${errors - g > 0 ? '+' : ''}${errors - g} (${g > 0 ? `${(((errors - g) / g) * 100).toFixed(1)}%` : '—'})`;
  const row = (name: string, errors: number, accuracy: number, note: string) =>
    `| ${name} | ${errors} | ${(accuracy * 100).toFixed(2)}% | ${note} |`;
  process.stdout.write(
    [
      `\nrun ${s.workflowId}: ${s.specialists.length} specialists over subsets ${s.subsets.map(braces).join(' ')}`,
      '| model | test errors | accuracy | vs generalist |',
      '|---|---|---|---|',
      row('generalist', g, s.generalist.accuracy, s.generalist.cached ? 'cached' : ''),
      row('generalist + specialists', s.combined.errors, s.combined.accuracy, vs(s.combined.errors)),
      ...(s.distillBack?.models ?? []).map((m) =>
        row(`${m.name} (distilled back, ${m.role})`, m.errors, m.accuracy, vs(m.errors)),
      ),
      `specialists: ${s.specialists.map(specialistLabel).join(', ')}`,
      ...(s.exported
        ? [
            `package (generalist + specialists + loader): ${s.exported.dir}/  →  ` +
              `chrysalis predict --model ${s.workflowId} <image.png>`,
          ]
        : []),
      `report: chrysalis report ${s.workflowId}  (MinIO ${s.report.markdown})`,
      '',
    ].join('\n'),
  );
}

function budgetLine(s: SearchSummary): string {
  if ('maxLatencyMs' in s.budget) return `native p50 at batch 1 ≤ ${s.budget.maxLatencyMs} ms`;
  const teachers = s.ensemble ? ` (${s.ensemble.validationErrors} + ${s.budget.maxExtraErrors})` : '';
  return `≤ ${s.budget.maxExtraErrors} validation errors more than the teachers${teachers}`;
}

function printSearch(s: SearchSummary): void {
  const row = (p: SearchSummary['front'][number]) =>
    `| ${p.name} | ${p.parameters} | ${p.latencyMs.toFixed(3)} | ${p.epochs} | ${p.validationErrors} | ` +
    `${p.testErrors} | ${p.name === s.chosen?.name ? 'chosen' : ''} |`;
  const teachers = s.ensemble
    ? `teacher ensemble: ${s.ensemble.validationErrors} validation, ${s.ensemble.testErrors} test errors`
    : 'no teacher ensemble (stored soft targets)';
  process.stdout.write(
    [
      `\nrun ${s.workflowId}: ${s.candidates} candidates; ` +
        `soft targets ${s.softTargets.cacheHit ? 'from cache' : 'computed'}; ` +
        teachers,
      `Pareto front (${s.front.length} points):`,
      '| candidate | parameters | native p50 ms | epochs | val errors | test errors | |',
      '|---|---|---|---|---|---|---|',
      ...s.front.map(row),
      `budget: ${budgetLine(s)} → ${s.chosen ? `met: ${s.chosen.name} (exported ${s.chosen.modelJson})` : s.verdict}`,
      `trained ${s.cost.candidateEpochs} candidate-epochs; the full grid: ${s.cost.gridEpochs}`,
      `report: chrysalis report ${s.workflowId}  (MinIO ${s.report.markdown})`,
      '',
    ].join('\n'),
  );
}

export async function runCommand(args: RunArgs): Promise<number> {
  // The config first: a bad input fails here even with no stack or environment set up.
  buildInput(args);
  const env = cliEnv();
  const { pipeline, input, workflowId, dataset, label } = buildInput(args, {
    computeQueue: env.CHRYSALIS_COMPUTE_QUEUE,
  });
  const ctx = await connect(env);
  try {
    const start = async (withAttributes: boolean) =>
      ctx.client.workflow.start(PIPELINES[pipeline].workflowType, {
        taskQueue: ctx.env.CHRYSALIS_PIPELINE_QUEUE,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `chrysalis ${pipeline} ${label} on ${dataset}`,
        ...(withAttributes
          ? {
              typedSearchAttributes: [
                { key: searchAttributes.pipeline, value: pipeline },
                { key: searchAttributes.dataset, value: dataset },
                { key: searchAttributes.preset, value: label },
              ],
            }
          : {}),
      });
    let handle: WorkflowHandleWithFirstExecutionRunId;
    try {
      handle = await start(true);
    } catch (err) {
      // Servers without chrysalis' search attributes registered still run the workflow.
      if (!/search attribute/i.test((err as Error).message)) throw err;
      process.stderr.write(
        'warning: search attributes ChrysalisPipeline/Dataset/Preset are not registered on this server; ' +
          'starting without them\n',
      );
      handle = await start(false);
    }
    if (args.detach) {
      process.stdout.write(
        args.json ? `${JSON.stringify({ workflowId, runId: handle.firstExecutionRunId })}\n` : `${workflowId}\n`,
      );
      return Exit.ok;
    }
    process.stderr.write(`workflow ${workflowId} (temporal workflow describe -w ${workflowId})\n`);
    try {
      const summary = await follow<DistillationSummary | SmokeSummary | SpecialistsSummary | SearchSummary>(
        handle,
        args.json,
      );
      if (args.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else if ('front' in summary) printSearch(summary);
      else if ('combined' in summary) printSpecialists(summary);
      else if ('models' in summary) printDistillation(summary);
      else
        process.stdout.write(
          `\nsmoke: ${summary.errors} test errors (${(summary.accuracy * 100).toFixed(2)}%) on ${summary.backend}` +
            `${summary.backendFallback ? ' (WASM FALLBACK)' : ''}; model ${summary.manifestKey}\n`,
        );
      return Exit.ok;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        let cause: unknown = err.cause;
        while (cause && (cause as { cause?: unknown }).cause) cause = (cause as { cause?: unknown }).cause;
        throw new CliError(
          `run ${workflowId} failed: ${(cause as Error | undefined)?.message ?? err.message}`,
          Exit.runFailed,
        );
      }
      throw err;
    }
  } finally {
    await ctx.close();
  }
}
