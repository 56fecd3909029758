/**
 * Where a generalist + specialists combination gains or loses against the generalist alone: the paper's Table 4
 * (test examples by how many specialists covered them), accuracy on each specialist's subset, and how often each
 * specialist fired.
 */

/** One row of the paper's Table 4: test examples grouped by how many specialists covered them. */
export interface CoverageRow {
  specialists: number;
  examples: number;
  generalistCorrect: number;
  combinedCorrect: number;
  /** combinedCorrect − generalistCorrect. */
  delta: number;
  /** delta / generalistCorrect (0 when the generalist got none right). */
  relativeChange: number;
}

export interface SubsetRow {
  name: string;
  subset: number[];
  examples: number;
  generalistCorrect: number;
  combinedCorrect: number;
  /** The specialist alone, on its own |S|+1 outputs: argmax is the example's class. */
  specialistCorrect: number;
}

export interface FiringRow {
  name: string;
  /** Test inputs on which the specialist was active. */
  fired: number;
  /** …of which the true class was in its subset. */
  firedOnSubset: number;
}

export interface CombinationStatistics {
  byCoverage: CoverageRow[];
  perSubset: SubsetRow[];
  firing: FiringRow[];
}

export interface CombinationOutcome {
  /** Generalist probabilities, n × C. */
  pg: Float32Array;
  /** Combined distribution, n × C. */
  q: Float32Array;
  /** Per input, the specialists that were active (indices into `specialists`). */
  active: readonly (readonly number[])[];
  labels: ArrayLike<number>;
  numClasses: number;
  /** Each specialist's own outputs, n × (|S|+1), dustbin last. */
  specialists: readonly { name: string; subset: number[]; probs: Float32Array }[];
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
  return best;
}

/** Each row's most probable class. */
function predictions(probs: Float32Array, n: number, C: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => argmax(probs.subarray(i * C, i * C + C)));
}

export function combinationStatistics(o: CombinationOutcome): CombinationStatistics {
  const n = o.labels.length;
  const gPred = predictions(o.pg, n, o.numClasses);
  const cPred = predictions(o.q, n, o.numClasses);
  const generalistRight = (i: number) => gPred[i] === o.labels[i];
  const combinedRight = (i: number) => cPred[i] === o.labels[i];
  return {
    byCoverage: coverageRows(o, generalistRight, combinedRight),
    perSubset: o.specialists.map((s) => subsetRow(s, o.labels, generalistRight, combinedRight)),
    firing: firingRows(o),
  };
}

function coverageRows(
  o: CombinationOutcome,
  generalistRight: (i: number) => boolean,
  combinedRight: (i: number) => boolean,
): CoverageRow[] {
  const maxCover = o.active.reduce((m, a) => Math.max(m, a.length), 0);
  const rows: CoverageRow[] = Array.from({ length: maxCover + 1 }, (_, k) => ({
    specialists: k,
    examples: 0,
    generalistCorrect: 0,
    combinedCorrect: 0,
    delta: 0,
    relativeChange: 0,
  }));
  for (let i = 0; i < o.labels.length; i++) {
    const row = rows[o.active[i]!.length]!;
    row.examples += 1;
    if (generalistRight(i)) row.generalistCorrect += 1;
    if (combinedRight(i)) row.combinedCorrect += 1;
  }
  for (const row of rows) {
    row.delta = row.combinedCorrect - row.generalistCorrect;
    row.relativeChange = row.generalistCorrect > 0 ? row.delta / row.generalistCorrect : 0;
  }
  return rows;
}

/** Test examples whose true class is in the specialist's subset, scored by each of the three. */
function subsetRow(
  s: CombinationOutcome['specialists'][number],
  labels: ArrayLike<number>,
  generalistRight: (i: number) => boolean,
  combinedRight: (i: number) => boolean,
): SubsetRow {
  const K = s.subset.length + 1;
  const position = new Map(s.subset.map((c, j) => [c, j]));
  const row: SubsetRow = {
    name: s.name,
    subset: s.subset,
    examples: 0,
    generalistCorrect: 0,
    combinedCorrect: 0,
    specialistCorrect: 0,
  };
  for (let i = 0; i < labels.length; i++) {
    const j = position.get(labels[i]!);
    if (j === undefined) continue;
    row.examples += 1;
    if (generalistRight(i)) row.generalistCorrect += 1;
    if (combinedRight(i)) row.combinedCorrect += 1;
    if (argmax(s.probs.subarray(i * K, i * K + K)) === j) row.specialistCorrect += 1;
  }
  return row;
}

function firingRows(o: CombinationOutcome): FiringRow[] {
  const firing = o.specialists.map((s) => ({ name: s.name, fired: 0, firedOnSubset: 0 }));
  const inSubset = o.specialists.map((s) => new Set(s.subset));
  for (let i = 0; i < o.labels.length; i++)
    for (const m of o.active[i]!) {
      firing[m]!.fired += 1;
      if (inSubset[m]!.has(o.labels[i]!)) firing[m]!.firedOnSubset += 1;
    }
  return firing;
}
