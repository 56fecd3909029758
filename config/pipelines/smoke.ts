/** The smoke pipeline's config: its schema, its preset and its resolver. */
import { z } from 'zod';
import { modelSizeIssues, resolveWith } from './resolve-input';
import type { ConfigCheck, ResolveOptions, Resolved } from './resolve-input';
import { modelSpecSchema, trainSpecSchema } from './shared';
import { dataSchema } from './shared-data';

export const smokeConfigSchema = z
  .object({
    seed: z.number().int().min(0).default(1),
    data: dataSchema,
    model: modelSpecSchema,
    train: trainSpecSchema,
  })
  .strict();

export type SmokeConfig = z.infer<typeof smokeConfigSchema>;

type SmokeInput = z.input<typeof smokeConfigSchema>;

export const smokePresets: Record<string, SmokeInput> = {
  /** Seconds: a tiny MLP on 2,000 MNIST images, through Temporal and MinIO. */
  smoke: {
    data: { dataset: 'mnist', validationSize: 1000, trainLimit: 2000 },
    model: { kind: 'mlp', hidden: [64] },
    train: { epochs: 2, batchSize: 64 },
  },
};

export function resolveSmokeInput(raw: unknown, opts?: ResolveOptions): Resolved<SmokeConfig> {
  const check: ConfigCheck<SmokeConfig> = (cfg, limits) =>
    modelSizeIssues(cfg.data, [{ path: 'model', spec: cfg.model, batchSize: cfg.train.batchSize }], limits);
  return resolveWith(raw, smokePresets, smokeConfigSchema, check, opts);
}
