// Prints the Markdown rows docs/RESULTS.md quotes, from finished runs' report.json.
//   node bench/results/summarize.mjs <workflowId> …   (uses ./chrysalis report <id> --json)
import { execFileSync } from 'node:child_process';

for (const id of process.argv.slice(2)) {
  const r = JSON.parse(execFileSync('./chrysalis', ['report', id, '--json'], { encoding: 'utf8' }));
  console.log(
    `\n### ${r.config.name} — ${id}\n` +
      `wall ${(r.wallSeconds / 60).toFixed(1)} min, transfer ${JSON.stringify(r.config.transfer)}, ` +
      `soft targets ${r.softTargets.cacheHit ? 'cached' : 'computed'}`,
  );
  console.log(
    '| model | T | α | epochs | test errors | train time | bias shift (val) → errors | ' +
      'test-optimal shift → errors |\n' +
      '|---|---|---|---|---|---|---|---|',
  );
  for (const m of r.models) {
    const b = m.evaluation.biasShift;
    const trainTime = m.training
      ? `${(m.training.seconds / 60).toFixed(1)} min${m.training.cached ? ' (cached)' : ''}`
      : '';
    const cells = [
      m.name,
      m.temperature ?? '',
      m.alpha ?? '',
      m.training?.epochs ?? '',
      m.evaluation.errors,
      trainTime,
      b ? `${b.validationShift} → ${b.testErrorsWithValidationShift}` : '',
      b ? `${b.testOptimalShift} → ${b.testOptimalErrors}` : '',
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  const perClass = r.models.map((m) => `${m.name}: [${m.evaluation.perClassErrors.join(', ')}]`).join('; ');
  console.log(`per-class errors: ${perClass}`);
}
