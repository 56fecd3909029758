/**
 * Ports for tests that run servers of their own, as offsets from CHRYSALIS_TEST_PORT_BASE (set by
 * infra/run-tests.mjs, whose shared stack takes base…base+3), so suites with different bases never meet.
 */
export const PORT_OFFSETS = { quickstart: 10, temporalRestart: 20, minioRestart: 30, disturbed: 40 } as const;

/** The first of four consecutive ports (Temporal, its UI, MinIO, MinIO console) for this test. */
export function testPortBase(name: keyof typeof PORT_OFFSETS): number {
  const base = Number(process.env['CHRYSALIS_TEST_PORT_BASE']);
  if (!Number.isInteger(base)) throw new Error('CHRYSALIS_TEST_PORT_BASE is unset: run tests through `npm test`');
  return base + PORT_OFFSETS[name];
}
