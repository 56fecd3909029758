import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseExport } from '../../common/export-choice';

const m = (name: string, role: string, errors: number, validation?: number) => ({
  name,
  role,
  evaluation: { errors, ...(validation !== undefined ? { validation: { errors: validation, n: 5000 } } : {}) },
});

test('the export is chosen on validation among baseline and students, never among teachers, and says so', () => {
  const models = [
    m('teacher-1', 'teacher', 50, 10),
    m('baseline-hard', 'baseline', 120, 60),
    m('s-T4', 'student', 100, 70),
  ];
  const chosen = chooseExport(models)!;
  assert.equal(chosen.best.name, 'baseline-hard', 'fewer validation errors wins even with more test errors');
  assert.equal(
    chosen.chosenBy,
    'fewest validation errors (60 / 5000) among the hard-label baseline and 1 distilled student',
  );
  const two = chooseExport([...models, m('s-T2', 'student', 130, 40)])!;
  assert.equal(two.best.name, 's-T2');
  assert.match(two.chosenBy, /and 2 distilled students$/);
});

test('without a validation split the test set decides, and the reason says why', () => {
  const chosen = chooseExport([m('baseline-hard', 'baseline', 120), m('s-T4', 'student', 100)])!;
  assert.equal(chosen.best.name, 's-T4');
  assert.equal(
    chosen.chosenBy,
    'fewest test errors among the hard-label baseline and 1 distilled student ' +
      '(no validation split: data.validationSize is 0)',
  );
  assert.equal(chooseExport([m('teacher-1', 'teacher', 50, 10)]), undefined);
});
