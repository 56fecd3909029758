/**
 * The student search's decisions as plain functions (sandbox-safe: the workflow runs them, the config
 * checks the schedule, unit tests pin them): which candidates a search space names, the successive
 * halving schedule, who survives a rung, the Pareto front, and the chosen student.
 */

/** A model spec as the search sees it: an MLP or CNN spec object (config/schemas.ts modelSpecSchema). */
export type SearchSpec =
  | { kind: 'mlp'; hidden: number[]; [option: string]: unknown }
  | { kind: 'cnn'; filters: number[]; dense: number; [option: string]: unknown };

/** The search space of a config (config/search.ts), as plain data. */
export interface SearchSpaceLike {
  models?: SearchSpec[] | undefined;
  mlp?: { widths: number[]; depths: number[]; hiddenDropout?: number | undefined } | undefined;
  cnn?: { filters: number[][]; dense: number[]; dropout?: number | undefined } | undefined;
  temperatures: number[];
  alpha: number;
}

export interface Candidate {
  /** Unique, file-name safe: architecture and temperature, e.g. "mlp-64x2-T4". */
  name: string;
  spec: SearchSpec;
  temperature: number;
  alpha: number;
}

/** A short, file-name-safe label of an architecture: "mlp-64x64", "cnn-8-16-d32". */
export function specLabel(spec: SearchSpec): string {
  return spec.kind === 'mlp' ? `mlp-${spec.hidden.join('x')}` : `cnn-${spec.filters.join('-')}-d${spec.dense}`;
}

/** Every architecture the space names: listed models, then MLP widths × depths, then CNN filters × dense. */
export function spaceArchitectures(space: SearchSpaceLike): SearchSpec[] {
  const mlp = space.mlp;
  const cnn = space.cnn;
  const dropout = (key: string, v: number | undefined) => (v !== undefined && v > 0 ? { [key]: v } : {});
  const all: SearchSpec[] = [
    ...(space.models ?? []),
    ...(mlp?.depths ?? []).flatMap((d) =>
      mlp!.widths.map((w): SearchSpec => ({
        kind: 'mlp',
        hidden: Array.from({ length: d }, () => w),
        ...dropout('hiddenDropout', mlp!.hiddenDropout),
      })),
    ),
    ...(cnn?.filters ?? []).flatMap((f) =>
      cnn!.dense.map((dense): SearchSpec => ({ kind: 'cnn', filters: f, dense, ...dropout('dropout', cnn!.dropout) })),
    ),
  ];
  const seen = new Set<string>();
  return all.filter((s) => {
    const key = JSON.stringify(s, Object.keys(s).sort());
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Architectures × temperatures, each named uniquely (a suffix tells apart specs with one label). */
export function searchCandidates(space: SearchSpaceLike): Candidate[] {
  const used = new Map<string, number>();
  return spaceArchitectures(space).flatMap((spec) => {
    const base = specLabel(spec);
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    const label = n === 1 ? base : `${base}-v${n}`;
    return space.temperatures.map((temperature) => ({
      name: `${label}-T${temperature}`,
      spec,
      temperature,
      alpha: space.alpha,
    }));
  });
}

/**
 * The epoch each rung trains to: the last is the full recipe, each earlier one 1/eta of the next
 * (rounded, at least 1). Rungs whose epochs would repeat make the schedule invalid (see {@link scheduleProblem}).
 */
export function rungEpochs(epochs: number, rungs: number, eta: number): number[] {
  return Array.from({ length: rungs }, (_, r) => Math.max(1, Math.round(epochs / eta ** (rungs - 1 - r))));
}

/** Why a schedule cannot run (epochs repeat between rungs), or undefined. */
export function scheduleProblem(epochs: number, rungs: number, eta: number): string | undefined {
  const e = rungEpochs(epochs, rungs, eta);
  if (e.every((x, i) => i === 0 || x > e[i - 1]!)) return undefined;
  return (
    `${rungs} rungs at eta ${eta} need more than ${epochs} epochs (train.epochs): the rungs would stop after ` +
    `epochs ${e.join(', ')}; use fewer rungs, a smaller eta or more epochs`
  );
}

/** How many of `n` candidates go on to the next rung: the best 1/eta, at least one. */
export function survivorCount(n: number, eta: number): number {
  return Math.max(1, Math.ceil(n / eta));
}

/** A candidate's standing after a rung. */
export interface RungStanding {
  name: string;
  validationErrors: number;
  parameters: number;
  /** False when the candidate already misses a latency budget (which training cannot change). */
  feasible?: boolean;
}

/**
 * The names that continue: the best 1/eta by validation errors, ties to the smaller model, then by
 * name (determinism); candidates that cannot meet a latency budget rank after every one that can.
 */
export function survivors(standings: readonly RungStanding[], eta: number): string[] {
  const ranked = [...standings].sort(
    (a, b) =>
      Number(a.feasible === false) - Number(b.feasible === false) ||
      a.validationErrors - b.validationErrors ||
      a.parameters - b.parameters ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  return ranked.slice(0, survivorCount(standings.length, eta)).map((s) => s.name);
}

/** One point of the front: lower is better on every axis. */
export interface FrontPoint {
  name: string;
  validationErrors: number;
  /** Native p50 latency at batch 1. */
  latencyMs: number;
  parameters: number;
}

const AXES = ['validationErrors', 'latencyMs', 'parameters'] as const;

/** Whether `a` is at least as good as `b` on every axis and better on one. */
export function dominates(a: FrontPoint, b: FrontPoint): boolean {
  return AXES.every((k) => a[k] <= b[k]) && AXES.some((k) => a[k] < b[k]);
}

/** The points no other point dominates, by parameters then errors (the order a reader scans a front). */
export function paretoFront<P extends FrontPoint>(points: readonly P[]): P[] {
  return points
    .filter((p) => !points.some((q) => dominates(q, p)))
    .sort((a, b) => a.parameters - b.parameters || a.validationErrors - b.validationErrors);
}

/** `{ maxExtraErrors }` (vs the teacher ensemble, on validation) or `{ maxLatencyMs }` (native p50, batch 1). */
export type SearchBudget = { maxExtraErrors: number } | { maxLatencyMs: number };

/** Whether a point meets the budget; `ensembleErrors` are the teachers' validation errors. */
export function withinBudget(p: FrontPoint, budget: SearchBudget, ensembleErrors: number | undefined): boolean {
  if ('maxLatencyMs' in budget) return p.latencyMs <= budget.maxLatencyMs;
  return ensembleErrors !== undefined && p.validationErrors <= ensembleErrors + budget.maxExtraErrors;
}

/**
 * The student to deploy among the points that meet the budget: under an error budget the smallest
 * (parameters, then errors); under a latency budget the most accurate (errors, then parameters), since
 * the smallest model is always the fastest and would make the search pointless. Undefined when none meets it.
 */
export function chooseStudent<P extends FrontPoint>(
  points: readonly P[],
  budget: SearchBudget,
  ensembleErrors: number | undefined,
): P | undefined {
  const ok = points.filter((p) => withinBudget(p, budget, ensembleErrors));
  const bySize = (a: P, b: P) => a.parameters - b.parameters || a.validationErrors - b.validationErrors;
  const byErrors = (a: P, b: P) => a.validationErrors - b.validationErrors || a.parameters - b.parameters;
  return [...ok].sort('maxLatencyMs' in budget ? byErrors : bySize)[0];
}
