import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trainingSeed } from '../../common/seeds';

// These numbers are part of every trained model's digest: they must never change.
test('training seeds: seed·1000 + 7 (students), + 101 + i (teachers), + 101 (generalist), + 301 (specialists)', () => {
  for (const [seed, student, teacher1, teacher3, specialist] of [
    [0, 7, 101, 103, 301],
    [1, 1007, 1101, 1103, 1301],
    [42, 42007, 42101, 42103, 42301],
    [2 ** 31 - 1, 2147483647007, 2147483647101, 2147483647103, 2147483647301],
  ]) {
    assert.equal(trainingSeed(seed!, 'student'), student);
    assert.equal(trainingSeed(seed!, 'teacher', 0), teacher1);
    assert.equal(trainingSeed(seed!, 'teacher', 2), teacher3);
    assert.equal(trainingSeed(seed!, 'generalist'), teacher1);
    assert.equal(trainingSeed(seed!, 'specialist'), specialist);
  }
});
