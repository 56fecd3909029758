/** Which trained student a distillation run ships. Pure: the workflow sandbox imports it. */

/** What the choice looks at: a model's role and its errors, on test and (where there is one) validation. */
export interface Candidate {
  name: string;
  role: string;
  evaluation: { errors: number; validation?: { errors: number; n: number } };
}

/**
 * The model to deploy, chosen on the validation split among the hard-label baseline and the distilled
 * students (the baseline may win: then distillation did not help, and the report says so). Without a
 * validation split the test set decides, and the report says that too.
 */
export function chooseExport<M extends Candidate>(models: readonly M[]): { best: M; chosenBy: string } | undefined {
  const candidates = models.filter((m) => m.role === 'student' || m.role === 'baseline');
  if (candidates.length === 0) return undefined;
  const onValidation = candidates.every((m) => m.evaluation.validation && m.evaluation.validation.n > 0);
  const score = (m: M) => (onValidation ? m.evaluation.validation!.errors : m.evaluation.errors);
  const best = [...candidates].sort((a, b) => score(a) - score(b))[0]!;
  const k = candidates.length - 1;
  const among = `among the hard-label baseline and ${k} distilled student${k === 1 ? '' : 's'}`;
  const chosenBy = onValidation
    ? `fewest validation errors (${score(best)} / ${best.evaluation.validation!.n}) ${among}`
    : `fewest test errors ${among} (no validation split: data.validationSize is 0)`;
  return { best, chosenBy };
}
