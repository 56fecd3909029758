/**
 * Tables of numbers: RFC 4180 CSV (a header row, comma-separated fields, double-quoted fields may hold
 * commas, quotes as "" and line breaks) read into float feature rows and a label column. Pure: the
 * dataset loader (activities/csv-table.ts) and `chrysalis predict` share it, so a table is read the
 * same way for training and for prediction.
 */

export class CsvError extends Error {
  override readonly name = 'CsvError';
}

/** The rows of a CSV text as fields, with the 1-based line each row starts on; blank lines are skipped. */
export function parseCsvRows(text: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  const endRow = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0]!.trim() !== '') rows.push({ line: start, fields });
    fields = [];
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      start = ++line;
    } else field += ch;
  }
  if (quoted) throw new CsvError(`line ${start}: a quoted field is not closed`);
  if (field !== '' || fields.length > 0) endRow();
  return rows;
}

/** A parsed table: the header's columns and each data row's fields and line. */
export interface CsvTable {
  columns: string[];
  rows: { line: number; fields: string[] }[];
}

/** Splits a CSV text into header and rows; every row must have the header's number of fields. */
export function readCsvTable(text: string): CsvTable {
  const [header, ...rows] = parseCsvRows(text.startsWith('\uFEFF') ? text.slice(1) : text);
  if (!header) throw new CsvError('the file is empty: expected a header row naming the columns');
  const columns = header.fields.map((c) => c.trim());
  const seen = columns.find((c, i) => columns.indexOf(c) !== i);
  if (seen !== undefined) throw new CsvError(`column "${seen}" appears twice in the header`);
  if (columns.some((c) => c === '')) throw new CsvError('the header has an unnamed column');
  for (const r of rows)
    if (r.fields.length !== columns.length)
      throw new CsvError(`line ${r.line}: ${r.fields.length} fields, the header has ${columns.length}`);
  return { columns, rows };
}

/** The positions of `names` in `columns`; an unknown name is an error listing the columns there are. */
export function columnIndices(columns: readonly string[], names: readonly string[]): number[] {
  return names.map((name) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new CsvError(`no column "${name}" (columns: ${columns.join(', ')})`);
    return i;
  });
}

/**
 * The feature columns of each row as float32, row after row. A field that is not a finite number (empty,
 * text, NaN, Infinity) or that float32 cannot hold is an error naming its line and column: a table with gaps
 * needs them filled first.
 */
export function featureMatrix(table: CsvTable, features: readonly number[]): Float32Array {
  const out = new Float32Array(table.rows.length * features.length);
  table.rows.forEach((r, i) =>
    features.forEach((c, j) => {
      const text = r.fields[c]!.trim();
      const v = text === '' ? NaN : Number(text);
      if (!Number.isFinite(v))
        throw new CsvError(`line ${r.line}, column "${table.columns[c]}": "${text}" is not a number`);
      // A finite double past float32's range would be stored as ±Infinity.
      if (!Number.isFinite(Math.fround(v)))
        throw new CsvError(
          `line ${r.line}, column "${table.columns[c]}": ${text} is outside float32's range (±3.4e38)`,
        );
      out[i * features.length + j] = v;
    }),
  );
  return out;
}

/**
 * The label column's values, trimmed, row after row. An empty cell is an error naming its line: a row without a
 * label would otherwise become a class of its own ("").
 */
export function labelColumn(table: CsvTable, label: number): string[] {
  return table.rows.map((r) => {
    const value = r.fields[label]!.trim();
    if (value === '') throw new CsvError(`line ${r.line}, column "${table.columns[label]}": the label cell is empty`);
    return value;
  });
}

/**
 * Class names from a label column's values: in numeric order when every label is a number (so "2" comes
 * before "10"), else in code-point order (as image folders are).
 */
export function classNamesOf(labels: readonly string[]): string[] {
  const names = [...new Set(labels)];
  const numeric = names.every((n) => n !== '' && Number.isFinite(Number(n)));
  return numeric ? names.sort((a, b) => Number(a) - Number(b)) : names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
