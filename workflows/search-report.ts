/**
 * What the student search writes and returns: each candidate's point and outcome, the search's cost, the report the
 * pipeline activity renders, and the run's summary. Plain data: workflow code.
 */
import type { DataPlanRef, TrainResult } from '../contracts/exchange';
import type { ModelCost } from '../common/model-cost';
import type { SearchConfig } from '../config/search';
import type { CandidateOutcome, SearchReport } from '../reports/search-markdown';
import type { Candidate, FrontPoint } from '../common/search-plan';
import type { SearchPoint, SearchSummary } from './search';
import type { HalvingResult, Standing } from './search-halving';
import type { TeacherStageResult } from './teacher-stage';

export const NO_CANDIDATE_MET_THE_BUDGET = 'no candidate met the budget';

export function point(s: Standing, cost: ModelCost): FrontPoint & SearchPoint {
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

/** What the stages produced, for the report and the summary. */
export interface SearchOutcome {
  workflowId: string;
  cfg: SearchConfig;
  data: DataPlanRef;
  teachers: TeacherStageResult;
  candidates: Candidate[];
  halved: HalvingResult;
  front: (FrontPoint & SearchPoint)[];
  chosen: (FrontPoint & SearchPoint) | undefined;
  exported: { modelJson: string; weights: string } | undefined;
}

export function searchReport(
  o: SearchOutcome,
  times: Pick<SearchReport, 'startedAt' | 'finishedAt' | 'wallSeconds'>,
): SearchReport {
  const { cfg, data, teachers, front, chosen, exported } = o;
  const { standings, costs, machine, schedule } = o.halved;
  const ensemble = standings.ensemble;
  const onFront = new Set(front.map((p) => p.name));
  const outcomes = o.candidates.map((c) => outcome(standings.byName.get(c.name)!, costs.get(c.name)!, onFront));
  const results = [...standings.results];
  const chosenBy =
    'maxLatencyMs' in cfg.budget
      ? 'the fewest validation errors within the latency budget'
      : 'the fewest parameters within the error budget';
  return {
    workflowId: o.workflowId,
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
    verdict: verdictOf(o),
    cost: costOf(o),
    machine,
    backendFallback: results.some((r) => r.backendFallback),
    ...times,
    // Files the data's folders held but the loader did not read are named with the split's warnings.
    ...((data.warnings?.length ?? 0) + (data.ignored?.length ?? 0) > 0
      ? { dataWarnings: [...(data.warnings ?? []), ...(data.ignored ?? [])] }
      : {}),
  };
}

export function searchSummary(o: SearchOutcome, report: SearchSummary['report']): SearchSummary {
  const { teachers, front, chosen, exported } = o;
  const ensemble = o.halved.standings.ensemble;
  return {
    workflowId: o.workflowId,
    report,
    softTargets: { key: teachers.soft.key, cacheHit: teachers.cacheHit },
    ...(ensemble ? { ensemble: { validationErrors: ensemble.validation.errors, testErrors: ensemble.errors } } : {}),
    budget: o.cfg.budget,
    front,
    ...(chosen && exported
      ? { chosen: { ...chosen, ...exported }, exported: { model: chosen.name, ...exported } }
      : {}),
    verdict: verdictOf(o),
    candidates: o.candidates.length,
    cost: costOf(o),
  };
}

function verdictOf(o: SearchOutcome): string {
  return o.chosen ? 'met' : NO_CANDIDATE_MET_THE_BUDGET;
}

function costOf({ halved, cfg }: SearchOutcome): SearchReport['cost'] {
  const { standings } = halved;
  return searchCost([...standings.results], [...standings.byName.values()], cfg.train.epochs);
}
