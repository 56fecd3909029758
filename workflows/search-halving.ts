/**
 * The student search's successive halving: every rung trains its live candidates in parallel to the rung's
 * epoch (resuming the previous rung's checkpoints), measures them after the first, and keeps the best 1/eta
 * by validation errors. Workflow code.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type {
  EvaluationSummary,
  MeasureResult,
  ModelRef,
  SoftTargetsRef,
  TrainRequest,
  TrainResult,
} from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';
import type { SearchConfig } from '../config/search';
import type { RungOutcome, SearchReport } from '../reports/search-markdown';
import { FailureType } from '../common/failure-types';
import { trainingSeed } from '../common/seeds';
import { rungEpochs, survivors } from '../common/search-plan';
import type { Candidate } from '../common/search-plan';
import type { PipelineRun } from './teacher-stage';

export type SearchRun = PipelineRun<SearchConfig>;

/** A candidate after its latest rung. */
export interface Standing {
  candidate: Candidate;
  model: ModelRef;
  rungs: RungOutcome[];
  evaluation: EvaluationSummary & { validation: { errors: number; n: number } };
  /** Seconds per epoch of its training loop, from the latest history that has any. */
  epochSeconds?: number;
}

export type EvaluationWithValidation = EvaluationSummary & { validation: { errors: number; n: number } };

/** Evaluations decide on the validation split; a summary without it comes from an older compute worker. */
function withValidation(e: EvaluationSummary): EvaluationWithValidation {
  if (!e.validation)
    throw ApplicationFailure.create({
      message:
        `evaluation of ${e.name} has no validation errors: ` +
        'the search needs a validation split and compute workers that report it',
      type: FailureType.ComputeError,
      nonRetryable: true,
    });
  return e as EvaluationWithValidation;
}

/** The teacher ensemble on validation and test; undefined when the teachers are stored soft targets or imported. */
export async function ensembleOf(run: SearchRun, models: ModelRef[]): Promise<EvaluationWithValidation | undefined> {
  const t = run.cfg.teachers;
  if ('softTargets' in t || 'import' in t) return undefined;
  const expected = 'count' in t ? t.count : t.refs.length;
  if (models.length < expected)
    throw ApplicationFailure.create({
      message:
        `${expected - models.length} of ${expected} teacher models are no longer in the store: ` +
        'the error budget needs all of them',
      type: FailureType.ArtifactNotFound,
      nonRetryable: true,
    });
  const summary = `evaluate the ensemble of ${models.length} teachers (${run.cfg.ensemble}) on validation and test`;
  const e = await run.compute.evaluateEnsemble.executeWithOptions({ ...run.computeOptions, summary }, [
    { name: 'teacher-ensemble', models, rule: run.cfg.ensemble, data: run.data },
  ]);
  return withValidation(e);
}

export interface HalvingResult {
  standings: {
    byName: Map<string, Standing>;
    results: TrainResult[];
    ensemble: EvaluationWithValidation | undefined;
  };
  costs: Map<string, ModelCost>;
  machine: MeasureResult['machine'];
  schedule: SearchReport['schedule'];
}

/**
 * The rungs: all live candidates train to the rung's epoch in parallel (each evaluated as soon as it is
 * trained); after the first rung every candidate's cost is measured (it does not change with training)
 * and, beside it, the teacher ensemble evaluated; each rung but the last keeps the best 1/eta.
 */
export async function halving(
  run: SearchRun,
  candidates: Candidate[],
  soft: SoftTargetsRef,
  ensemble: () => Promise<EvaluationWithValidation | undefined>,
): Promise<HalvingResult> {
  const { cfg } = run;
  const epochs = rungEpochs(cfg.train.epochs, cfg.halving.rungs, cfg.halving.eta);
  const byName = new Map<string, Standing>();
  const results: TrainResult[] = [];
  const schedule: SearchReport['schedule'] = { eta: cfg.halving.eta, rungs: [] };
  let alive = candidates;
  let measured: { costs: Map<string, ModelCost>; machine: MeasureResult['machine'] } | undefined;
  let ensembleEval: EvaluationWithValidation | undefined;
  for (const [r, epoch] of epochs.entries()) {
    schedule.rungs.push({ epoch, candidates: alive.length });
    const trained = await run.progress.stage(`rung-${r + 1}`, () =>
      Promise.all(alive.map((c) => trainAndEvaluate(run, c, soft, epoch, epochs[r - 1] ?? 0))),
    );
    for (const [i, t] of trained.entries()) {
      results.push(t.result);
      byName.set(alive[i]!.name, standing(alive[i]!, t, epoch, byName.get(alive[i]!.name)));
    }
    if (!measured)
      [measured, ensembleEval] = await Promise.all([
        measure(
          run,
          alive.map((c) => ({ name: c.name, model: byName.get(c.name)!.model })),
        ),
        ensemble(),
      ]);
    if (r === epochs.length - 1) break;
    const costs = measured.costs;
    const latencyCap = 'maxLatencyMs' in cfg.budget ? cfg.budget.maxLatencyMs : Infinity;
    const keep = survivors(
      alive.map((c) => {
        const s = byName.get(c.name)!;
        const cost = costs.get(c.name)!;
        return {
          name: c.name,
          validationErrors: s.evaluation.validation.errors,
          parameters: cost.parameters,
          feasible: cost.native.batch1.p50Ms <= latencyCap,
        };
      }),
      cfg.halving.eta,
    );
    alive = alive.filter((c) => keep.includes(c.name));
  }
  return { standings: { byName, results, ensemble: ensembleEval }, ...measured!, schedule };
}

/** One candidate's rung: train (resuming the previous rung's checkpoint) to `epoch`, then evaluate. */
async function trainAndEvaluate(
  run: SearchRun,
  c: Candidate,
  soft: SoftTargetsRef,
  epoch: number,
  from: number,
): Promise<{ result: TrainResult; evaluation: EvaluationWithValidation }> {
  const { cfg, data, progress, compute, computeOptions } = run;
  const E = cfg.train.epochs;
  const req: TrainRequest = {
    name: `${c.name}@${epoch}`,
    role: 'student',
    data,
    split: 'transfer',
    spec: c.spec,
    train: cfg.train,
    // The distillation pipeline's student seed: a candidate with a distilled student's recipe reuses its model.
    seed: trainingSeed(cfg.seed, 'student'),
    distill: { softTargets: soft, temperature: c.temperature, alpha: c.alpha, ensemble: cfg.ensemble },
    ...(epoch < E ? { stopAfterEpoch: epoch } : {}),
  };
  progress.model(req.name, 'student', epoch);
  const summary =
    `train ${c.name}: epochs ${from + 1}–${epoch} of ${E}, ` + `distilled at T=${c.temperature}, α=${c.alpha}`;
  const result = await progress.track(
    req.name,
    compute.trainModel.executeWithOptions({ ...computeOptions, summary }, [req]),
  );
  const evaluation = await compute.evaluateModel.executeWithOptions(
    { ...computeOptions, summary: `evaluate ${c.name} after epoch ${epoch} on validation (decides) and test` },
    [{ name: req.name, model: result.model, data }],
  );
  return { result, evaluation: withValidation(evaluation) };
}

function standing(
  c: Candidate,
  t: { result: TrainResult; evaluation: EvaluationWithValidation },
  epoch: number,
  before: Standing | undefined,
): Standing {
  const { result, evaluation } = t;
  const fresh = result.history.filter((h) => h.epoch > result.resumedFromEpoch);
  const loopSeconds = fresh.reduce((a, h) => a + h.seconds, 0);
  const rung: RungOutcome = {
    epoch,
    validationErrors: evaluation.validation.errors,
    testErrors: evaluation.errors,
    epochsTrained: result.epochsTrained,
    cached: result.cached,
    loopSeconds,
  };
  const timed = result.history.length > 0 ? result.history : undefined;
  const epochSeconds = timed ? timed.reduce((a, h) => a + h.seconds, 0) / timed.length : before?.epochSeconds;
  return {
    candidate: c,
    model: result.model,
    rungs: [...(before?.rungs ?? []), rung],
    evaluation,
    ...(epochSeconds !== undefined ? { epochSeconds } : {}),
  };
}

async function measure(
  run: SearchRun,
  models: { name: string; model: ModelRef }[],
): Promise<{ costs: Map<string, ModelCost>; machine: MeasureResult['machine'] }> {
  const summary = `measure ${models.length} candidates: parameters, export size, batch-1 latency (native, plain tfjs)`;
  const m = await run.progress.stage('measure', () =>
    run.compute.measureModels.executeWithOptions({ ...run.computeOptions, summary }, [
      { models, classNames: run.data.classNames },
    ]),
  );
  return { costs: new Map(m.costs.map((c) => [c.name, c.cost])), machine: m.machine };
}
