/** A distillation report with no models, for tests of what the Markdown says about the config and the run. */
import type { DistillationConfig } from '../../config/schemas';
import type { DistillationReport } from '../../reports/distillation-markdown';

export function emptyReport(config: DistillationConfig, extra: Partial<DistillationReport> = {}): DistillationReport {
  return {
    workflowId: 'w',
    pipeline: 'distillationPipeline',
    config,
    softTargets: { key: 'k', cacheHit: false, inferenceSeconds: 0 },
    models: [],
    startedAt: '',
    finishedAt: '',
    wallSeconds: 1,
    ...extra,
  };
}
