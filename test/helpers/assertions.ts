/** Assertions shared by the tests: of activities called directly, and of both pipelines on the stack. */
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactStore } from '../../storage';
import { pngInfo, pngIsBlank } from './png';
import type { TestStack } from './stack';

/** Every chart is a real PNG with content, and the HTML page embeds them all without external links. */
export async function assertChartsRendered(
  store: ArtifactStore,
  report: { charts: string[]; html: string },
): Promise<void> {
  assert.ok(report.charts.length > 0, 'the report has charts');
  for (const key of report.charts) {
    const png = await store.get(key);
    const { width, height } = pngInfo(png);
    assert.ok(width >= 200 && height >= 100, `${key}: ${width}×${height}`);
    assert.equal(pngIsBlank(png), false, `${key} is blank`);
  }
  const html = new TextDecoder().decode(await store.get(report.html));
  assert.equal(html.split('data:image/png;base64,').length - 1, report.charts.length);
  assert.doesNotMatch(html, /https?:\/\//);
}

/** Each input fails the workflow at once with a non-retryable InvalidInput whose message matches. */
export async function assertInvalidInputs(
  s: TestStack,
  workflowType: string,
  cases: [unknown, RegExp][],
): Promise<void> {
  await Promise.all(
    cases.map(async ([input, pattern], i) => {
      const err = await s.client.workflow
        .execute(workflowType, {
          taskQueue: s.queues.pipeline,
          workflowId: `${workflowType}-invalid-${i}-${Date.now()}`,
          args: [input],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err instanceof WorkflowFailedError, `case ${i} should fail`);
      const cause = (err.cause as { cause?: unknown }).cause;
      assert.ok(cause instanceof ApplicationFailure, `case ${i}: ${String(cause)}`);
      assert.equal(cause.type, 'InvalidInput');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, pattern);
    }),
  );
}

/** The promise (an activity called directly) rejects with a non-retryable InvalidInput whose message matches. */
export function rejectsInvalid(p: Promise<unknown>, re: RegExp): Promise<void> {
  return assert.rejects(p, (err: Error & { type?: string; nonRetryable?: boolean }) => {
    assert.equal(err.type, 'InvalidInput', err.message);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, re);
    return true;
  });
}
