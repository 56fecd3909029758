/**
 * evaluateModel and evaluateEnsemble: a model, or the teacher ensemble as one model, scored on the test set and the
 * validation split (artifacts/evaluations.ts), heartbeating after each member's inference.
 */
import { digestOf } from '../storage/hash';
import type { EnsembleRequest, EvaluateRequest, EvaluationSummary, ScoredModel } from '../contracts/exchange';
import { softTargetsAt } from '../ml/losses';
import { logOf, scoredDigest, scoredLogits, scoringData, summarize } from '../artifacts/evaluations';
import type { Logits } from '../artifacts/evaluations';
import type { ComputeDeps } from './compute-deps';
import { activityHeartbeat } from './durable-training';

export async function evaluateModel(deps: ComputeDeps, req: EvaluateRequest): Promise<EvaluationSummary> {
  const { ds, validation } = await scoringData(deps, req.data);
  const logits = await scoredLogits(deps.store, req, ds, validation);
  return summarize(deps.store, { ...req, digest: scoredDigest(req) }, ds, validation, logits);
}

/**
 * The teacher ensemble as one model: its members' predictions (trained or given models, then imported teachers)
 * combined by the rule the students are distilled with (at T = 1), on the test set and the validation split.
 */
export async function evaluateEnsemble(deps: ComputeDeps, req: EnsembleRequest): Promise<EvaluationSummary> {
  const { ds, validation } = await scoringData(deps, req.data);
  const scored: ScoredModel[] = [
    ...req.models.map((model) => ({ model })),
    ...(req.imported ?? []).map((imported) => ({ imported })),
  ];
  const members: Logits[] = [];
  for (const m of scored) {
    members.push(await scoredLogits(deps.store, m, ds, validation));
    activityHeartbeat({ members: members.length });
  }
  const C = ds.numClasses;
  const combine = (pick: (l: Logits) => Float32Array) => {
    const parts = members.map(pick);
    const n = parts[0]!.length / C;
    return n === 0 ? new Float32Array(0) : logOf(softTargetsAt(parts, n, C, 1, req.rule));
  };
  const digest = digestOf({ ensemble: scored.map(scoredDigest), rule: req.rule });
  const logits: Logits = {
    test: combine((l) => l.test),
    validation: combine((l) => l.validation),
    seconds: members.reduce((a, l) => a + l.seconds, 0),
  };
  return summarize(deps.store, { name: req.name, digest, data: req.data }, ds, validation, logits);
}
