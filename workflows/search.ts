/**
 * studentSearchPipeline (issue 11): validate → prepare data → teacher stage (cached soft targets, or
 * teachers in parallel) → successive halving over candidate students: every rung trains its candidates
 * in parallel to the rung's epoch (resuming the previous rung's checkpoints) and keeps the best 1/eta
 * by validation errors → cost of every candidate → Pareto front → the student within budget, exported
 * → report. The validation split decides; the test set only reports. Histories carry refs only.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/pipeline';
import type { ModelRef, StoredReport } from '../contracts/exchange';
import type { PipelineInput } from '../config/resolve';
import type { SearchReport } from '../reports/search-markdown';
import { chooseStudent, paretoFront, searchCandidates } from '../common/search-plan';
import type { SearchBudget } from '../common/search-plan';
import { LIGHT_ACTIVITY_OPTIONS } from './options';
import { openPipeline, runTimes } from './prologue';
import { teacherStage } from './teacher-stage';
import { ensembleOf, halving } from './search-halving';
import type { SearchRun } from './search-halving';
import { point, searchReport, searchSummary } from './search-report';

export { NO_CANDIDATE_MET_THE_BUDGET } from './search-report';

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

export async function studentSearchPipeline(input: SearchInput): Promise<SearchSummary> {
  const light = proxyActivities<PipelineActivities>(LIGHT_ACTIVITY_OPTIONS);
  const validate = (raw: unknown) => light.validateSearchInput(raw);
  const opened = await openPipeline(input, validate, (c) => ({ transfer: c.transfer }));
  const { cfg, data, progress, compute, computeOptions } = opened;
  const run: SearchRun = { cfg, data, progress, light, compute, computeOptions };
  const teachers = await teacherStage(run);
  const candidates = searchCandidates(cfg.space);
  const halved = await halving(run, candidates, teachers.soft, () =>
    ensembleOf(
      run,
      teachers.toEvaluate.flatMap((t) => ('model' in t ? [t.model] : [])),
    ),
  );
  const { standings, costs } = halved;
  const points = [...standings.byName.values()].map((s) => point(s, costs.get(s.candidate.name)!));
  const front = paretoFront(points);
  const chosen = chooseStudent(front, cfg.budget, standings.ensemble?.validation.errors);
  const exported = chosen ? await exportChosen(run, standings.byName.get(chosen.name)!.model) : undefined;

  const workflowId = workflowInfo().workflowId;
  const outcome = { workflowId, cfg, data, teachers, candidates, halved, front, chosen, exported };
  const report = searchReport(outcome, runTimes(opened.startedAt));
  const written = await progress.stage('report', () => light.writeSearchReport(report));
  return searchSummary(outcome, written);
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
