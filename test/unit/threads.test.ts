import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyThreadChoice, threadChoice } from '../../ml/threads';

test('threads: one per core within an op and between ops, unless the operator says otherwise', () => {
  assert.deepEqual(threadChoice({}, 8), {
    intraOp: 8,
    interOp: 8,
    by: 'chrysalis',
    why: 'one thread per core (8) for each op and for ops side by side (bench/threads)',
  });
  assert.deepEqual(threadChoice({ TF_NUM_INTEROP_THREADS: '2' }, 4), {
    intraOp: 4,
    interOp: 2,
    by: 'environment',
    why: 'TF_NUM_INTRAOP_THREADS= TF_NUM_INTEROP_THREADS=2',
  });
  // A value TensorFlow would not take as a thread count is not the operator's choice.
  assert.equal(threadChoice({ TF_NUM_INTRAOP_THREADS: 'many', TF_NUM_INTEROP_THREADS: '0' }, 2).by, 'chrysalis');
});

test("applyThreadChoice sets both variables where chrysalis decides, and leaves the operator's alone", () => {
  const env: NodeJS.ProcessEnv = {};
  assert.equal(applyThreadChoice(env, 2).by, 'chrysalis');
  assert.deepEqual(env, { TF_NUM_INTRAOP_THREADS: '2', TF_NUM_INTEROP_THREADS: '2' });
  const set: NodeJS.ProcessEnv = { TF_NUM_INTRAOP_THREADS: '1' };
  assert.deepEqual(applyThreadChoice(set, 2), {
    intraOp: 1,
    interOp: 2,
    by: 'environment',
    why: 'TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=',
  });
  assert.deepEqual(set, { TF_NUM_INTRAOP_THREADS: '1' });
});
