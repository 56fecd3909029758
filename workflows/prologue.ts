/**
 * What every pipeline does first: serve progress, then hand the input — untouched, whatever it is —
 * to the validation activity, which parses all of it (options included) strictly. The workflow reads
 * nothing of the input itself, so no input can fail a workflow task: a bad one fails the activity
 * non-retryably (`InvalidInput`, naming the field) and with it the run.
 */
import { proxyActivities, setHandler } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { DataPlanRef, ValidatedInput } from '../contracts/exchange';
import { computeActivityOptions } from './options';
import type { RunOptions } from './options';
import { ProgressTracker, modelProgressSignal, progressQuery } from './progress';

export interface PipelineStart<C> {
  cfg: C;
  /** The validated run options (the child workflow gets them as they are). */
  options: RunOptions;
  computeOptions: ActivityOptions;
  progress: ProgressTracker;
}

/** Registers the progress query and signal, then validates the whole input in the 'validate' stage. */
export async function startPipeline<C>(
  input: unknown,
  validate: (raw: unknown) => Promise<ValidatedInput<C>>,
): Promise<PipelineStart<C>> {
  const progress = new ProgressTracker();
  setHandler(progressQuery, () => progress.snapshot());
  setHandler(modelProgressSignal, (u) => progress.update(u));
  const result = await progress.stage('validate', () => validate(input === undefined ? null : input));
  const { cfg, options } = unwrap(result, input);
  return { cfg, options, computeOptions: computeActivityOptions(options), progress };
}

/**
 * Histories recorded before the validation activity returned `{ config, options }` carry the bare
 * config; those runs were started with valid options, which are then read from the input as before.
 */
function unwrap<C>(result: ValidatedInput<C> | C, input: unknown): { cfg: C; options: RunOptions } {
  const r = result as Partial<ValidatedInput<C>>;
  if (typeof r === 'object' && r !== null && 'config' in r && 'options' in r && Object.keys(r).length === 2)
    return { cfg: r.config, options: r.options ?? {} };
  const legacy = (input as { options?: RunOptions } | null)?.options;
  return { cfg: result as C, options: legacy ?? {} };
}

type ComputeProxy = ReturnType<typeof proxyActivities<ComputeActivities>>;
type PrepareRequest = Parameters<ComputeActivities['prepareData']>[0];

/** A run past its prologue: validated, its data prepared, its compute proxy made, its start time taken. */
export interface OpenedPipeline<C> extends PipelineStart<C> {
  /** Taken before validation: the report's wall time covers the whole run. */
  startedAt: Date;
  compute: ComputeProxy;
  data: DataPlanRef;
}

/**
 * The opening every distilling pipeline shares: validate (startPipeline), then prepare the data in the
 * 'prepare-data' stage — the validation split and the transfer set the config's rule asks for.
 * `transferOf` names that rule (and, for messages, where the config holds it).
 */
export async function openPipeline<C extends { data: PrepareRequest['data']; seed: number }>(
  input: unknown,
  validate: (raw: unknown) => Promise<ValidatedInput<C>>,
  transferOf: (cfg: C) => Pick<PrepareRequest, 'transfer' | 'transferField'>,
): Promise<OpenedPipeline<C>> {
  const startedAt = new Date(Date.now());
  const start = await startPipeline(input, validate);
  const { cfg, computeOptions, progress } = start;
  const compute = proxyActivities<ComputeActivities>(computeOptions);
  const { transfer, transferField } = transferOf(cfg);
  // Keys in the order the recorded requests have them.
  const req = { data: cfg.data, transfer, seed: cfg.seed, ...(transferField ? { transferField } : {}) };
  const data = await progress.stage('prepare-data', () =>
    compute.prepareData.executeWithOptions(
      { ...computeOptions, summary: `prepare ${cfg.data.dataset}: validation split, transfer set` },
      [req],
    ),
  );
  return { ...start, startedAt, compute, data };
}

/** The report's timing trio, the run ending now. */
export function runTimes(startedAt: Date): { startedAt: string; finishedAt: string; wallSeconds: number } {
  const finishedAt = new Date(Date.now());
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
  };
}
