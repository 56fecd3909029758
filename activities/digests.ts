/**
 * Content digests that name trained artifacts. Training is deterministic for a given recipe, so the
 * recipe's digest names the weights before they exist: that is what lets a run find cached teachers
 * and soft targets without training anything.
 */
import { digestOf } from '../storage/hash';
import type { TrainRequest } from './types';

export function modelDigest(req: Pick<TrainRequest, 'data' | 'split' | 'spec' | 'train' | 'seed' | 'distill'>): string {
  return digestOf({
    v: 1,
    // Teachers depend on the training split only; students also on the transfer rule.
    data: req.split === 'train' ? req.data.trainDigest : req.data.planDigest,
    split: req.split,
    spec: req.spec,
    train: req.train,
    seed: req.seed,
    distill: req.distill
      ? {
          softTargets: req.distill.softTargets.key,
          T: req.distill.temperature,
          alpha: req.distill.alpha,
          ensemble: req.distill.ensemble,
        }
      : null,
  });
}

export function softTargetsKey(planDigest: string, teacherDigests: readonly string[]): string {
  return digestOf({ v: 1, plan: planDigest, teachers: teacherDigests }, 24);
}
