/** The step training takes: compiled (one TensorFlow call) or eager, chosen once and reported (ml/train.ts). */
import { CompiledStep, compiledStepPlan } from './compiled-step';
import type { StepPlan } from './compiled-step';
import type { StepResult } from './mlp-step';
import type { Net } from './models';
import { exportWeights } from './models';
import type { Optimizer } from './optimizers';
import type { Rng } from './rng';
import { trainStep } from './train-step';
import type { TrainBatch } from './train-step';
import type { TrainConfig, TrainHooks, TrainSnapshot } from './train-types';

/**
 * Takes each step on the compiled path (one TensorFlow call, ml/compiled-step.ts) where it applies, else the eager
 * one; decided at the first step, when the batch shows which soft targets training has, and reported once.
 */
export class Stepper {
  private compiled: CompiledStep | undefined;
  private plan: StepPlan | undefined;

  constructor(
    private readonly net: Net,
    private readonly opt: Optimizer,
    private readonly cfg: TrainConfig,
    private readonly hooks: TrainHooks,
  ) {}

  /** Moves the momentum schedule to `epoch` (0-based); the optimizer holds it for whichever path steps. */
  setEpoch(epoch: number): void {
    this.opt.setEpoch(epoch);
  }

  step(batch: TrainBatch, lr: number, rng: Rng): StepResult {
    this.plan ??= this.choose(batch);
    const { x, labels, softTargets, temperature = 1 } = batch;
    if (this.compiled) {
      this.compiled.momentum = this.opt.momentum;
      return this.compiled.step({ x, labels, softTargets }, lr, temperature, this.cfg.alpha ?? 1, rng);
    }
    const result = trainStep(this.net, this.opt, batch, lr, rng);
    this.net.applyConstraints();
    return result;
  }

  private choose(batch: TrainBatch): StepPlan {
    const { softTargets } = batch;
    const plan = compiledStepPlan(this.net);
    if (plan.path === 'compiled') {
      const alpha = this.cfg.alpha ?? 1;
      const terms = {
        soft: softTargets !== undefined && alpha > 0,
        hard: softTargets === undefined || alpha < 1,
        topK: softTargets !== undefined && 'mask' in softTargets,
      };
      this.compiled = CompiledStep.create(this.net, this.cfg.optimizer, terms, this.opt.state());
    }
    this.hooks.onStepPlan?.(plan);
    return plan;
  }

  /** Weights and optimiser state to resume from, wherever they live now. */
  state(): Pick<TrainSnapshot, 'weights' | 'optimizer'> {
    if (this.compiled) return { weights: this.compiled.weights(), optimizer: this.compiled.optimizerState() };
    return { weights: exportWeights(this.net), optimizer: this.opt.state() };
  }

  /** Leaves the trained weights in the net's variables and closes the session. */
  finish(): void {
    if (!this.compiled) return;
    try {
      this.compiled.syncNet();
    } finally {
      this.compiled.dispose();
      this.compiled = undefined;
    }
  }
}
