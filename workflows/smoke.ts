/** smokePipeline: the foundation check — train one tiny model through Temporal, store it in MinIO, evaluate it. */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { PipelineActivities } from '../activities/pipeline';
import type { PipelineInput } from '../config/resolve';
import { NON_RETRYABLE } from '../common/failure-types';
import { startPipeline } from './prologue';

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

export async function smokePipeline(input: PipelineInput = { preset: 'smoke' }): Promise<SmokeSummary> {
  const light = proxyActivities<PipelineActivities>({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const { cfg, options, computeOptions, progress } = await startPipeline(input, (raw) => light.validateSmokeInput(raw));
  // A smoke run is small: unless the run says otherwise, give up on an activity after 30 minutes.
  const timeout = options.trainTimeoutMinutes === undefined ? { startToCloseTimeout: '30 minutes' } : {};
  const compute = proxyActivities<ComputeActivities>({ ...computeOptions, ...timeout });
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
