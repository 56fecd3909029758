/** Markdown pieces both run reports are built from, so their tables and warnings read alike. */

/** A fraction as a percentage: `0.9` → `90.00%`. */
export const pct = (x: number, digits = 2): string => `${(x * 100).toFixed(digits)}%`;

/** A count with its sign: `+3`, `0`, `-2`. */
export const signed = (x: number): string => (x > 0 ? `+${x}` : `${x}`);

/** A fraction as a signed percentage: `0.05` → `+5.0%`. */
export const signedPct = (x: number, digits = 1): string => `${x > 0 ? '+' : ''}${(x * 100).toFixed(digits)}%`;

/** Text for a table cell: a pipe would end the cell. */
export const escapeCell = (s: string): string => s.replace(/\|/g, '\\|');

/** One table row; cells are written as given, so escape text that may hold a pipe. */
export const tableRow = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;

/** A table's header row and its separator. */
export const tableHead = (headers: readonly (string | number)[]): string[] => [
  tableRow(headers),
  `|${'---|'.repeat(headers.length)}`,
];

/** Leads a report whose models trained on WASM, whose timings must not be compared with native runs. */
export const WASM_FALLBACK_WARNING = [
  '> **WARNING: trained on the WASM fallback backend, not native TensorFlow.** ' +
    'Timings are not representative; run `npm run setup`.',
  '',
];

/** The note on a trained model's row: reused, resumed from a checkpoint, or nothing. */
export function trainingNote(t: { cached: boolean; resumedFromEpoch: number }): string {
  if (t.cached) return 'cached';
  return t.resumedFromEpoch > 0 ? `resumed at epoch ${t.resumedFromEpoch}` : '';
}
