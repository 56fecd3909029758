/**
 * `dataset: "csv"`: a table of numeric feature columns and a label column (ml/csv.ts reads it). Each row is
 * one example of input shape [1, 1, features], its values float32 as written (a declared `data.normalize`
 * applies on top). Class names are the training table's labels; the digest covers the values read, so a
 * changed file changes every cache key that depends on the data.
 */
import { createHash } from 'node:crypto';
import type { CsvTableSpec } from '../config/schemas';
import { CsvError, classNamesOf, columnIndices, featureMatrix, labelColumn, readCsvTable } from '../ml/csv';
import type { CsvTable } from '../ml/csv';
import type { Dataset, Split } from '../ml/datasets';
import { invalidInput } from './failures';
import { parseUserFile } from './user-files';

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
