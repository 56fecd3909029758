/**
 * `dataset: "csv"`, read and parsed in one place: a table of numeric feature columns and a label column. Each row is
 * one example of input shape [1, 1, features], its values float32 as written (a declared `data.normalize` applies on
 * top). Class names are the training table's labels; the digest covers the values read, so a changed file changes
 * every cache key that depends on the data.
 *
 * The parser is RFC 4180 CSV (a header row, comma-separated fields, double-quoted fields may hold commas, quotes as
 * "" and line breaks) read into float feature rows and a label column. Pure: the dataset loader below and
 * `chrysalis predict` share it, so a table is read the same way for training and for prediction.
 */
import { createHash } from 'node:crypto';
import type { CsvTableSpec } from '../config/schemas';
import type { Dataset, Split } from '../ml/datasets';
import { invalidInput } from './input-failures';
import { CsvError } from './format-errors';
import { parseUserFile } from './user-files';

export { CsvError };

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

/** Labels travel as uint8 (as IDX labels do). */
const MAX_CLASSES = 256;

type Read = (ref: string, field: string) => Promise<Uint8Array>;

/** The file as text; bytes that are not UTF-8 are refused rather than read with replacement characters. */
function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CsvError('not UTF-8 text');
  }
}

async function readTable(read: Read, ref: string, field: string): Promise<CsvTable> {
  const bytes = await read(ref, field);
  return parseUserFile({ field, file: ref, format: 'UTF-8 CSV table' }, () => readCsvTable(utf8(bytes)));
}

/**
 * The column positions of the label and the features in `table`: `features` by name (a test table's are the
 * training table's, whatever its column order), by default every column but the label.
 */
function layout(
  spec: CsvTableSpec,
  table: CsvTable,
  field: string,
  features = spec.features,
): { label: number; features: number[] } {
  try {
    const [label] = columnIndices(table.columns, [spec.label]);
    const names = features ?? table.columns.filter((c) => c !== spec.label);
    if (names.includes(spec.label)) throw new CsvError(`the label column "${spec.label}" is also a feature`);
    if (names.length === 0) throw new CsvError('no feature columns besides the label');
    return { label: label!, features: columnIndices(table.columns, names) };
  } catch (err) {
    if (err instanceof CsvError) throw invalidInput(`${field}: ${(err as Error).message}`);
    throw err;
  }
}

/** The rows of `table` as a split; a label outside `classNames` is InvalidInput naming its line. */
function toSplit(
  table: CsvTable,
  cols: { label: number; features: number[] },
  classNames: string[],
  where: { field: string; ref: string },
): Split {
  return parseUserFile({ field: where.field, file: where.ref }, () => {
    const images = featureMatrix(table, cols.features);
    const values = labelColumn(table, cols.label);
    const labels = Uint8Array.from(values, (value, i) => {
      const id = classNames.indexOf(value);
      if (id < 0)
        throw new CsvError(
          `line ${table.rows[i]!.line}: label "${value}" is not a class of the training table (${classNames.join(', ')})`,
        );
      return id;
    });
    return { images, labels, n: table.rows.length };
  });
}

/** Whether a row is held out for the test set: a hash of its line and text, so every run splits alike. */
function heldOut(row: { line: number; fields: string[] }, fraction: number): boolean {
  const h = createHash('sha256')
    .update(`${row.line}:${row.fields.join(',')}`)
    .digest();
  return h.readUInt32BE(0) / 2 ** 32 < fraction;
}

/** The test table's rows, its columns found by the training table's names (in any order). */
async function testSplit(
  spec: CsvTableSpec,
  ref: string,
  read: Read,
  train: { features: string[]; classNames: string[] },
): Promise<Split> {
  const field = 'data.csv.test';
  const table = await readTable(read, ref, field);
  return toSplit(table, layout(spec, table, field, train.features), train.classNames, { field, ref });
}

export async function loadCsvTable(spec: CsvTableSpec, read: Read): Promise<Dataset> {
  const trainField = 'data.csv.train';
  const table = await readTable(read, spec.train, trainField);
  const cols = layout(spec, table, trainField);
  const labels = parseUserFile({ field: trainField, file: spec.train }, () => labelColumn(table, cols.label));
  const classNames = classNamesOf(labels);
  if (classNames.length < 2 || classNames.length > MAX_CLASSES)
    throw invalidInput(
      `data.csv.label: column "${spec.label}" has ${classNames.length} distinct value` +
        `${classNames.length === 1 ? '' : 's'}; a classification needs 2-${MAX_CLASSES} classes`,
    );
  const features = cols.features.map((c) => table.columns[c]!);
  const fraction = spec.testFraction ?? 0.2;
  const rows = (held: boolean) => ({ ...table, rows: table.rows.filter((r) => heldOut(r, fraction) === held) });
  const inTrain = { field: trainField, ref: spec.train };
  const train = toSplit(spec.test ? table : rows(false), cols, classNames, inTrain);
  const test = spec.test
    ? await testSplit(spec, spec.test, read, { features, classNames })
    : toSplit(rows(true), cols, classNames, inTrain);
  if (train.n === 0 || test.n === 0)
    throw invalidInput(
      `${train.n === 0 || !spec.test ? trainField : 'data.csv.test'}: no rows left for the ` +
        `${train.n === 0 ? 'training' : 'test'} split`,
    );
  const hash = createHash('sha256').update(JSON.stringify({ classNames, features, label: spec.label }));
  for (const s of [train, test]) hash.update(new Uint8Array(s.images.buffer)).update(s.labels);
  return {
    name: 'csv',
    digest: hash.digest('hex'),
    classNames,
    numClasses: classNames.length,
    rows: 1,
    cols: 1,
    channels: features.length,
    shape: [1, 1, features.length],
    normalization: { scale: 1 },
    features,
    train,
    test,
  };
}
