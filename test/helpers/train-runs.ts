/** Whole train() runs for comparing step paths: uninterrupted, or stopped and resumed on a fresh net. */
import { exportWeights, train } from '../../ml';
import type { Net, TrainConfig, TrainSnapshot } from '../../ml';
import type { StepPlan } from '../../ml/compiled-step';
import type { RawTensor } from '../../common/raw-tensor';

/** A run's final weights and every step plan its train() calls reported. */
export interface TrainRun {
  weights: Record<string, RawTensor>;
  plans: StepPlan[];
}

/**
 * train() of `make(false)` on `data()` under `CHRYSALIS_STEP=step`; with `resumeAfter`, stopped after that epoch
 * and resumed on `make(true)` from the snapshot alone, as on another worker.
 */
export async function trainRun(
  make: (resumed: boolean) => Net | Promise<Net>,
  data: () => Parameters<typeof train>[1],
  config: TrainConfig,
  step: string,
  resumeAfter?: number,
): Promise<TrainRun> {
  const saved = process.env['CHRYSALIS_STEP'];
  process.env['CHRYSALIS_STEP'] = step;
  try {
    const plans: StepPlan[] = [];
    let snap: TrainSnapshot | undefined;
    let net = await make(false);
    const hooks = {
      onStepPlan: (p: StepPlan) => plans.push(p),
      onEpochEnd: async (s: { epoch: number }, snapshot: () => TrainSnapshot) => {
        if (s.epoch === resumeAfter) snap = snapshot();
      },
    };
    await train(net, data(), resumeAfter ? { ...config, stopAfterEpoch: resumeAfter } : config, hooks);
    if (resumeAfter) {
      net.dispose();
      net = await make(true);
      await train(net, data(), config, { onStepPlan: (p) => plans.push(p) }, snap);
    }
    const weights = exportWeights(net);
    net.dispose();
    return { weights, plans };
  } finally {
    if (saved === undefined) delete process.env['CHRYSALIS_STEP'];
    else process.env['CHRYSALIS_STEP'] = saved;
  }
}
