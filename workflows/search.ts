/**
 * studentSearchPipeline (issue 11): validate → prepare data → teacher stage (cached soft targets, or
 * teachers in parallel) → successive halving over candidate students: every rung trains its candidates
 * in parallel to the rung's epoch (resuming the previous rung's checkpoints) and keeps the best 1/eta
 * by validation errors → cost of every candidate → Pareto front → the student within budget, exported
 * → report. The validation split decides; the test set only reports. Histories carry refs only.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { PipelineActivities } from '../activities/pipeline';
import type {
  EvaluationSummary,
  MeasureResult,
  ModelRef,
  SoftTargetsRef,
  TrainRequest,
  StoredReport,
  TrainResult,
} from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';
import type { PipelineInput } from '../config/resolve';
import type { SearchConfig } from '../config/search';
import type { CandidateOutcome, RungOutcome, SearchReport } from '../reports/search-markdown';
import { FailureType } from '../common/failure-types';
import { trainingSeed } from '../common/seeds';
import { chooseStudent, paretoFront, rungEpochs, searchCandidates, survivors } from '../common/search-plan';
import type { Candidate, FrontPoint, SearchBudget } from '../common/search-plan';
import { LIGHT_ACTIVITY_OPTIONS } from './options';
import { startPipeline } from './prologue';
import { teacherStage } from './teacher-stage';
import type { PipelineRun } from './teacher-stage';

export type SearchInput = PipelineInput;

/** A point of the result: one candidate at its furthest rung. */
export interface SearchPoint {
  name: string;
  parameters: number;
  /** Native p50 latency at batch 1. */
  latencyMs: number;
  epochs: number;
  validationErrors: number;
  testErrors: number;
  manifestKey: string;
}

export interface SearchSummary {
  workflowId: string;
  report: StoredReport;
  softTargets: { key: string; cacheHit: boolean };
  /** The teacher ensemble's errors; absent for stored soft targets. */
  ensemble?: { validationErrors: number; testErrors: number };
  budget: SearchBudget;
  /** Smallest first. */
  front: SearchPoint[];
  chosen?: SearchPoint & { modelJson: string; weights: string };
  /** The chosen student's export, as a distillation run names it (`chrysalis export <workflowId>`). */
  exported?: { model: string; modelJson: string; weights: string };
  /** "met" or "no candidate met the budget". */
  verdict: string;
  candidates: number;
  cost: SearchReport['cost'];
}

export const NO_CANDIDATE_MET_THE_BUDGET = 'no candidate met the budget';

type SearchRun = PipelineRun<SearchConfig>;

/** A candidate after its latest rung. */
interface Standing {
  candidate: Candidate;
  model: ModelRef;
  rungs: RungOutcome[];
  evaluation: EvaluationSummary & { validation: { errors: number; n: number } };
  /** Seconds per epoch of its training loop, from the latest history that has any. */
  epochSeconds?: number;
}

export async function studentSearchPipeline(input: SearchInput): Promise<SearchSummary> {
  const startedAt = new Date(Date.now());
  const light = proxyActivities<PipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const { cfg, computeOptions, progress } = await startPipeline(input, (raw) => light.validateSearchInput(raw));
  const compute = proxyActivities<ComputeActivities>(computeOptions);
  const data = await progress.stage('prepare-data', () =>
    compute.prepareData.executeWithOptions(
      { ...computeOptions, summary: `prepare ${cfg.data.dataset}: validation split, transfer set` },
      [{ data: cfg.data, transfer: cfg.transfer, seed: cfg.seed }],
    ),
  );
  const run: SearchRun = { cfg, data, progress, light, compute, computeOptions };
  const teachers = await teacherStage(run);
  const candidates = searchCandidates(cfg.space);
  const { standings, costs, machine, schedule } = await halving(run, candidates, teachers.soft, () =>
    ensembleOf(
      run,
      teachers.toEvaluate.flatMap((t) => ('model' in t ? [t.model] : [])),
    ),
  );
  const ensemble = standings.ensemble;

  const points = [...standings.byName.values()].map((s) => point(s, costs.get(s.candidate.name)!));
  const front = paretoFront(points);
  const chosen = chooseStudent(front, cfg.budget, ensemble?.validation.errors);
  const exported = chosen ? await exportChosen(run, standings.byName.get(chosen.name)!.model) : undefined;
  const verdict = chosen ? 'met' : NO_CANDIDATE_MET_THE_BUDGET;
  const onFront = new Set(front.map((p) => p.name));
  const outcomes = candidates.map((c) => outcome(standings.byName.get(c.name)!, costs.get(c.name)!, onFront));
  const results = [...standings.results];
  const cost = searchCost(results, [...standings.byName.values()], cfg.train.epochs);

  const workflowId = workflowInfo().workflowId;
  const finishedAt = new Date(Date.now());
  const chosenBy =
    'maxLatencyMs' in cfg.budget
      ? 'the fewest validation errors within the latency budget'
      : 'the fewest parameters within the error budget';
  const report = await progress.stage('report', () =>
    light.writeSearchReport({
      workflowId,
      pipeline: 'studentSearchPipeline',
      config: cfg,
      softTargets: {
        key: teachers.soft.key,
        cacheHit: teachers.cacheHit,
        inferenceSeconds: teachers.cacheHit ? 0 : (teachers.soft.inferenceSeconds ?? 0),
      },
      ...(ensemble
        ? {
            ensemble: {
              members: teachers.toEvaluate.length,
              rule: cfg.ensemble,
              validation: ensemble.validation,
              test: { errors: ensemble.errors, n: ensemble.n },
            },
          }
        : {}),
      budget: cfg.budget,
      schedule,
      candidates: outcomes,
      front: front.map((p) => p.name),
      ...(chosen && exported ? { chosen: { name: chosen.name, ...exported, chosenBy } } : {}),
      verdict,
      cost,
      machine,
      backendFallback: results.some((r) => r.backendFallback),
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      // Files the data's folders held but the loader did not read are named with the split's warnings.
      ...((data.warnings?.length ?? 0) + (data.ignored?.length ?? 0) > 0
        ? { dataWarnings: [...(data.warnings ?? []), ...(data.ignored ?? [])] }
        : {}),
    }),
  );
  return {
    workflowId,
    report,
    softTargets: { key: teachers.soft.key, cacheHit: teachers.cacheHit },
    ...(ensemble ? { ensemble: { validationErrors: ensemble.validation.errors, testErrors: ensemble.errors } } : {}),
    budget: cfg.budget,
    front,
    ...(chosen && exported
      ? { chosen: { ...chosen, ...exported }, exported: { model: chosen.name, ...exported } }
      : {}),
    verdict,
    candidates: candidates.length,
    cost,
  };
}

type EvaluationWithValidation = EvaluationSummary & { validation: { errors: number; n: number } };

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
async function ensembleOf(run: SearchRun, models: ModelRef[]): Promise<EvaluationWithValidation | undefined> {
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

interface HalvingResult {
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
async function halving(
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

function point(s: Standing, cost: ModelCost): FrontPoint & SearchPoint {
  return {
    name: s.candidate.name,
    parameters: cost.parameters,
    latencyMs: cost.native.batch1.p50Ms,
    epochs: s.rungs.at(-1)!.epoch,
    validationErrors: s.evaluation.validation.errors,
    testErrors: s.evaluation.errors,
    manifestKey: s.model.manifest.key,
  };
}

function outcome(s: Standing, cost: ModelCost, onFront: Set<string>): CandidateOutcome {
  const c = s.candidate;
  const architecture =
    c.spec.kind === 'mlp' ? `mlp ${c.spec.hidden.join('×')}` : `cnn ${c.spec.filters.join('-')}/${c.spec.dense}`;
  return {
    name: c.name,
    architecture,
    temperature: c.temperature,
    alpha: c.alpha,
    cost,
    rungs: s.rungs,
    manifestKey: s.model.manifest.key,
    validation: s.evaluation.validation,
    test: { errors: s.evaluation.errors, n: s.evaluation.n },
    onFront: onFront.has(c.name),
  };
}

/** Epochs and loop seconds the search trained, against every candidate trained to the last epoch. */
function searchCost(results: TrainResult[], standings: Standing[], epochs: number): SearchReport['cost'] {
  const loopSeconds = results.reduce(
    (a, r) => a + r.history.filter((h) => h.epoch > r.resumedFromEpoch).reduce((b, h) => b + h.seconds, 0),
    0,
  );
  const timed = standings.filter((s) => s.epochSeconds !== undefined);
  const mean = timed.length > 0 ? timed.reduce((a, s) => a + s.epochSeconds!, 0) / timed.length : 0;
  return {
    candidateEpochs: results.reduce((a, r) => a + r.epochsTrained, 0),
    gridEpochs: standings.length * epochs,
    loopSeconds,
    gridSecondsEstimate: standings.reduce((a, s) => a + (s.epochSeconds ?? mean) * epochs, 0),
  };
}

/** The chosen student in the TensorFlow.js layers format. */
async function exportChosen(run: SearchRun, model: ModelRef): Promise<{ modelJson: string; weights: string }> {
  const summary = 'export the chosen student in the TensorFlow.js layers format';
  return run.progress.stage('export', () =>
    run.compute.exportModel.executeWithOptions({ ...run.computeOptions, summary }, [
      { model, classNames: run.data.classNames },
    ]),
  );
}
