/**
 * The training seeds a run derives from its `seed`, in one place. Each is part of the trained model's digest, so
 * of its cache identity: changing a number here retrains every model and breaks the replay of recorded
 * histories (test/unit/seeds.test.ts pins them). Pure arithmetic, so the workflow sandbox can import it.
 */

/** What a seed is for. */
export type SeedPurpose = 'teacher' | 'student' | 'generalist' | 'specialist';

/** Offsets from `seed · 1000`: far enough apart that no two purposes meet for up to 200 teachers. */
const OFFSETS: Readonly<Record<SeedPurpose, number>> = {
  /**
   * The hard-label baseline, every distilled student and every search candidate: one seed, so a search candidate
   * with a distilled student's recipe reuses its model.
   */
  student: 7,
  /** Teacher i (from 0) gets 101 + i. */
  teacher: 101,
  /** The specialists pipeline's generalist: teacher 1's seed. */
  generalist: 101,
  /** Every specialist (their subsets differ), so a subset that recurs under other clustering settings is reused. */
  specialist: 301,
};

/** The seed of a model trained for `purpose` in a run with seed `runSeed`; `index` numbers the teachers. */
export function trainingSeed(runSeed: number, purpose: SeedPurpose, index = 0): number {
  return runSeed * 1000 + OFFSETS[purpose] + index;
}
