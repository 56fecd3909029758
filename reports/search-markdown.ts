/** The student search report: the JSON document a search run stores, and its Markdown rendering. */
import { machineLine } from './compression';
import type { ModelCost } from '../common/model-cost';
import type { MachineInfo } from '../contracts/vocabulary';
import type { SearchConfig } from '../config/search';
import type { SearchBudget } from '../common/search-plan';
import { WASM_FALLBACK_WARNING, escapeCell, pct, signed, tableHead, tableRow } from './markdown';

/** One rung a candidate trained in. */
export interface RungOutcome {
  /** The epoch training stopped after (the recipe's last epoch on the final rung). */
  epoch: number;
  validationErrors: number;
  testErrors: number;
  /** Epochs this rung trained (0 when its model was already stored). */
  epochsTrained: number;
  cached: boolean;
  /** Seconds inside the training loop (sum of the epochs this rung trained). */
  loopSeconds: number;
}

export interface CandidateOutcome {
  name: string;
  /** "mlp 64×64", "cnn 8-16/32": the architecture in words. */
  architecture: string;
  temperature: number;
  alpha: number;
  cost: ModelCost;
  rungs: RungOutcome[];
  /** The model of the furthest rung: what the front and the choice are made of. */
  manifestKey: string;
  validation: { errors: number; n: number };
  test: { errors: number; n: number };
  onFront: boolean;
}

export interface SearchReport {
  workflowId: string;
  pipeline: 'studentSearchPipeline';
  config: SearchConfig;
  softTargets: { key: string; cacheHit: boolean; inferenceSeconds: number };
  /**
   * The teacher ensemble on validation (decides an error budget) and test (reported); absent for
   * stored soft targets.
   */
  ensemble?: {
    members: number;
    rule: string;
    validation: { errors: number; n: number };
    test: { errors: number; n: number };
  };
  budget: SearchBudget;
  /** The rungs: epoch each trains to and how many candidates it trained. */
  schedule: { eta: number; rungs: { epoch: number; candidates: number }[] };
  candidates: CandidateOutcome[];
  /** Names on the Pareto front (validation errors, native p50 latency, parameters), smallest first. */
  front: string[];
  /** The student within budget; absent when none met it. */
  chosen?: { name: string; modelJson: string; weights: string; chosenBy: string };
  /** "met" with the chosen student, or "no candidate met the budget". */
  verdict: string;
  /** What the search trained against what the full grid (every candidate to the last epoch) would have. */
  cost: { candidateEpochs: number; gridEpochs: number; loopSeconds: number; gridSecondsEstimate: number };
  machine: MachineInfo;
  backendFallback: boolean;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  dataWarnings?: string[];
}

/** The budget in words: "≤ 30 validation errors more than the teacher ensemble (98 + 30 = 128)". */
export function budgetText(budget: SearchBudget, ensembleErrors: number | undefined): string {
  if ('maxLatencyMs' in budget) return `native p50 latency at batch 1 ≤ ${budget.maxLatencyMs} ms`;
  const limit =
    ensembleErrors !== undefined
      ? ` (${ensembleErrors} + ${budget.maxExtraErrors} = ${ensembleErrors + budget.maxExtraErrors})`
      : '';
  return `≤ ${budget.maxExtraErrors} validation errors more than the teacher ensemble${limit}`;
}

const ms = (x: number) => `${x < 1 ? x.toFixed(3) : x.toFixed(2)} ms`;

const CANDIDATE_COLUMNS = [
  'candidate',
  'parameters',
  'native p50',
  'plain tfjs p50',
  'epochs',
  'val errors',
  'vs teachers',
  'test errors',
  'test acc',
  '',
];

function candidateRow(c: CandidateOutcome, r: SearchReport): string {
  const vsTeachers = r.ensemble ? signed(c.validation.errors - r.ensemble.validation.errors) : '—';
  const mark = c.name === r.chosen?.name ? '**chosen**' : c.onFront ? 'front' : '';
  return tableRow([
    escapeCell(c.name),
    c.cost.parameters,
    ms(c.cost.native.batch1.p50Ms),
    ms(c.cost.plain.batch1.p50Ms),
    c.rungs.at(-1)?.epoch ?? 0,
    c.validation.errors,
    vsTeachers,
    c.test.errors,
    pct(1 - c.test.errors / Math.max(1, c.test.n)),
    mark,
  ]);
}

export function renderSearchReport(r: SearchReport): string {
  const lines: string[] = [];
  if (r.backendFallback) lines.push(...WASM_FALLBACK_WARNING);
  const e = r.ensemble;
  lines.push(
    `# Student search ${r.workflowId}`,
    '',
    `Config \`${r.config.name}\` on ${r.config.data.dataset}, seed ${r.config.seed}; ` +
      `${r.candidates.length} candidates, successive halving at eta ${r.schedule.eta}. ` +
      'The validation split decides every choice; the test set only reports.',
    '',
    `- Budget: ${budgetText(r.budget, e?.validation.errors)}`,
    `- **Verdict: ${r.verdict}**`,
    ...(r.chosen
      ? [`- Chosen: \`${r.chosen.name}\` (${r.chosen.chosenBy}), exported to \`${r.chosen.modelJson}\``]
      : []),
    e
      ? `- Teacher ensemble (${e.members}, ${e.rule}): ${e.validation.errors}/${e.validation.n} validation errors, ` +
          `${e.test.errors}/${e.test.n} test errors`
      : '- Teacher ensemble: none (stored soft targets)',
    `- Soft targets \`${r.softTargets.key}\`: ` +
      `${r.softTargets.cacheHit ? 'from the cache (no teacher ran)' : 'computed'}`,
    `- Wall time ${r.wallSeconds.toFixed(0)} s. ${machineLine(r.machine)}`,
    '',
    '## Pareto front',
    '',
    'Validation errors vs native p50 latency (batch 1) vs parameters; ' +
      'no other candidate is at least as good on all three.',
    '',
    ...tableHead(CANDIDATE_COLUMNS),
    ...r.front.map((name) =>
      candidateRow(
        r.candidates.find((c) => c.name === name)!,
        r,
      ),
    ),
    '',
    '## Successive halving',
    '',
    ...tableHead(['rung', 'trains to epoch', 'candidates']),
    ...r.schedule.rungs.map((g, i) => tableRow([i + 1, g.epoch, g.candidates])),
    '',
    `Trained ${r.cost.candidateEpochs} candidate-epochs (${r.cost.loopSeconds.toFixed(0)} s in training loops); ` +
      `the full grid would train ${r.cost.gridEpochs} (≈ ${r.cost.gridSecondsEstimate.toFixed(0)} s at each ` +
      "candidate's measured seconds per epoch).",
    '',
    '## Every candidate',
    '',
    ...tableHead(CANDIDATE_COLUMNS),
    ...r.candidates.map((c) => candidateRow(c, r)),
    ...(r.dataWarnings?.length ? ['', '## Data warnings', '', ...r.dataWarnings.map((w) => `- ${w}`)] : []),
  );
  return `${lines.join('\n')}\n`;
}
