/** smokePipeline: the foundation check — train one tiny model through Temporal, store it in MinIO, evaluate it. */
import { proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { PipelineActivities } from '../activities/pipeline';
import type { PipelineInput } from '../config/resolve';
import { NON_RETRYABLE, computeActivityOptions } from './options';
import type { RunOptions } from './options';
import { ProgressTracker, modelProgressSignal, progressQuery } from './progress';

export interface SmokeSummary {
  workflowId: string;
  manifestKey: string;
  weightsSha256: string;
  errors: number;
  accuracy: number;
  backend: string;
  backendFallback: boolean;
  epochsTrained: number;
  /** > 0 when training resumed from a checkpoint after a failure. */
  resumedFromEpoch: number;
}

export async function smokePipeline(
  input: PipelineInput & { options?: RunOptions } = { preset: 'smoke' },
): Promise<SmokeSummary> {
  const opts = input.options ?? {};
  const light = proxyActivities<PipelineActivities>({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const compute = proxyActivities<ComputeActivities>({
    ...computeActivityOptions(opts),
    startToCloseTimeout: '30 minutes',
  });
  const progress = new ProgressTracker();
  setHandler(progressQuery, () => progress.snapshot());
  setHandler(modelProgressSignal, (u) => progress.update(u));
  const { options: _o, ...raw } = input;
  const cfg = await light.validateSmokeInput(raw);
  const data = await compute.prepareData({ data: cfg.data, transfer: { kind: 'full' }, seed: cfg.seed });
  progress.model('smoke', 'model', cfg.train.epochs);
  const trained = await progress.track(
    'smoke',
    compute.trainModel({
      name: 'smoke',
      role: 'model',
      data,
      split: 'train',
      spec: cfg.model,
      train: cfg.train,
      seed: cfg.seed,
    }),
  );
  const ev = await compute.evaluateModel({ name: 'smoke', model: trained.model, data });
  return {
    workflowId: workflowInfo().workflowId,
    manifestKey: trained.model.manifest.key,
    weightsSha256: trained.model.weights.sha256,
    errors: ev.errors,
    accuracy: ev.accuracy,
    backend: trained.backend,
    backendFallback: trained.backendFallback,
    epochsTrained: trained.epochsTrained,
    resumedFromEpoch: trained.resumedFromEpoch,
  };
}
