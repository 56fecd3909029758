/**
 * `dataset: "csv"` and declared normalisation: the CSV reader, the table loader's errors (each an
 * InvalidInput naming the field, the file and the line), and normalisation resolved, applied and refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { loadCsvTable } from '../../data/csv';
import { distillationConfigSchema } from '../../config/schemas';
import { classNamesOf, parseCsvRows, readCsvTable } from '../../data/csv';
import type { Dataset } from '../../ml/datasets';
import { applyNormalization, describeInput, resolveNormalization } from '../../ml/normalize';

const files = (map: Record<string, string>) => async (ref: string) => {
  const text = map[ref];
  if (text === undefined) throw new Error(`no file ${ref}`);
  return new TextEncoder().encode(text);
};

async function loadError(spec: Parameters<typeof loadCsvTable>[0], map: Record<string, string>): Promise<string> {
  try {
    await loadCsvTable(spec, files(map));
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, 'InvalidInput');
    assert.equal(err.nonRetryable, true);
    return err.message;
  }
  assert.fail('expected the table to be refused');
}

test('CSV rows: quoted fields with commas, quotes and line breaks; CRLF; a BOM; blank lines skipped', () => {
  const rows = parseCsvRows('a,"b, c","say ""hi"""\r\n\r\n1,"two\nlines",3\n');
  assert.deepEqual(rows, [
    { line: 1, fields: ['a', 'b, c', 'say "hi"'] },
    { line: 3, fields: ['1', 'two\nlines', '3'] },
  ]);
  assert.deepEqual(readCsvTable('\uFEFFx,y\n1,2').columns, ['x', 'y']);
  assert.throws(() => readCsvTable('x,y\n1,2,3\n'), /line 2: 3 fields, the header has 2/);
  assert.throws(() => readCsvTable('x,x\n1,2\n'), /column "x" appears twice/);
  assert.throws(() => parseCsvRows('x\n"open'), /line 2: a quoted field is not closed/);
});

test('class names: numeric labels in numeric order, others in code-point order', () => {
  assert.deepEqual(classNamesOf(['10', '2', '1', '2']), ['1', '2', '10']);
  assert.deepEqual(classNamesOf(['cat', 'Dog', 'ant']), ['Dog', 'ant', 'cat']);
});

const TRAIN = 'id,f1,label,f2\na,0.5,yes,1\nb,1.5,no,2\nc,2.5,yes,3\nd,3.5,no,4\n';

test('a table loads: chosen features in order, labels as classes, test columns matched by name', async () => {
  const ds = await loadCsvTable(
    { train: '/d/train.csv', test: '/d/test.csv', label: 'label', features: ['f2', 'f1'] },
    files({ '/d/train.csv': TRAIN, '/d/test.csv': 'f1,f2,label\n9,8,no\n' }),
  );
  assert.deepEqual(ds.classNames, ['no', 'yes']);
  assert.deepEqual(ds.shape, [1, 1, 2]);
  assert.deepEqual(ds.features, ['f2', 'f1']);
  assert.deepEqual(Array.from(ds.train.images), [1, 0.5, 2, 1.5, 3, 2.5, 4, 3.5]);
  assert.deepEqual(Array.from(ds.train.labels), [1, 0, 1, 0]);
  assert.deepEqual(Array.from(ds.test.images), [8, 9]);
  const again = await loadCsvTable(
    { train: '/d/train.csv', test: '/d/test.csv', label: 'label', features: ['f2', 'f1'] },
    files({ '/d/train.csv': TRAIN, '/d/test.csv': 'f1,f2,label\n9,8.5,no\n' }),
  );
  assert.notEqual(again.digest, ds.digest, 'a changed value changes the digest');
});

test('bad tables fail as InvalidInput naming the field, the file, the line and the column', async () => {
  const spec = { train: '/d/t.csv', test: '/d/v.csv', label: 'label', features: ['f1', 'f2'] };
  assert.equal(
    await loadError(spec, { '/d/t.csv': TRAIN.replace('2.5', 'n/a'), '/d/v.csv': 'f1,f2,label\n1,2,no\n' }),
    'invalid input: data.csv.train: /d/t.csv: line 4, column "f1": "n/a" is not a number',
  );
  assert.equal(
    await loadError(spec, { '/d/t.csv': TRAIN, '/d/v.csv': 'f1,f2,label\n1,2,maybe\n' }),
    'invalid input: data.csv.test: /d/v.csv: line 2: label "maybe" is not a class of the training table (no, yes)',
  );
  assert.equal(
    await loadError({ ...spec, label: 'class' }, { '/d/t.csv': TRAIN, '/d/v.csv': '' }),
    'invalid input: data.csv.train: no column "class" (columns: id, f1, label, f2)',
  );
  assert.equal(
    await loadError({ ...spec, features: ['f1', 'label'] }, { '/d/t.csv': TRAIN, '/d/v.csv': '' }),
    'invalid input: data.csv.train: the label column "label" is also a feature',
  );
  assert.equal(
    await loadError({ train: '/d/t.csv', label: 'label' }, { '/d/t.csv': TRAIN }),
    'invalid input: data.csv.train: /d/t.csv: line 2, column "id": "a" is not a number',
    'by default every column but the label is a feature',
  );
  assert.equal(
    await loadError({ ...spec, test: undefined }, { '/d/t.csv': 'f1,f2,label\n1,2,x\n3,4,x\n' }),
    'invalid input: data.csv.label: column "label" has 1 distinct value; a classification needs 2-256 classes',
  );
});

test('normalisation: standardize from the training split, per-channel values checked, applied as stored', () => {
  const split = (v: number[]) => ({ images: Float32Array.from(v), labels: new Uint8Array(v.length / 2), n: 2 });
  const ds = { channels: 2, train: split([1, 10, 3, 10]), test: split([2, 10, 0, 10]) } as unknown as Dataset;
  assert.deepEqual(resolveNormalization(ds, 'standardize'), { scale: 1, mean: [2, 10], std: [1, 1] });
  const given = resolveNormalization(ds, { mean: [0.5], std: [2] });
  assert.deepEqual(given, { scale: 1, mean: [0.5, 0.5], std: [2, 2] }, 'one value applies to every channel');
  assert.deepEqual(Array.from(applyNormalization([1.5, 4.5], 2, given)), [0.5, 2]);
  assert.throws(
    () => resolveNormalization(ds, { mean: [1, 2, 3], std: [1] }),
    /^NormalizationError: data\.normalize\.mean: 3 values for 2 channels \(give one per channel, or one for all\)$/,
  );
  const pixels = { channels: 1, train: { images: Uint8Array.from([0, 255]), labels: new Uint8Array(2), n: 2 } };
  assert.deepEqual(resolveNormalization(pixels as unknown as Dataset, 'standardize'), {
    scale: 1 / 255,
    mean: [0.5],
    std: [0.5],
  });
  assert.equal(
    describeInput([1, 1, 2], given, ['a', 'b']),
    'float32 [batch, 2]: the 2 feature columns (a, b) as written, then (x − mean[c]) / std[c] per feature ' +
      '(normalization)',
  );
});

test('a CSV config: a CNN or a jitter is refused, naming the field', () => {
  const config = {
    data: { dataset: 'csv', csv: { train: '/d/t.csv', label: 'y' } },
    teachers: { count: 1, model: { kind: 'cnn', filters: [4], dense: 8 }, train: { epochs: 1 } },
    student: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1, jitter: 1 } },
    students: [{ temperature: 2, alpha: 0.5 }],
  };
  const r = distillationConfigSchema.safeParse(config);
  assert.ok(!r.success);
  assert.deepEqual(
    r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    [
      'student.train.jitter: jitter shifts pixels; rows of a table take jitter 0',
      'teachers.model.kind: a CNN needs images; rows of a table take an MLP ("mlp")',
    ],
  );
  const missing = distillationConfigSchema.safeParse({ ...config, data: { dataset: 'csv' } });
  assert.ok(!missing.success);
  assert.ok(missing.error.issues.some((i) => i.path.join('.') === 'data.csv'));
});
