/**
 * The training loop. Pure tfjs plus hooks: the activity layer supplies heartbeats, checkpoints and
 * cancellation through {@link TrainHooks}, so this file knows nothing about Temporal or storage.
 *
 * Every epoch's randomness (shuffle order, jitter, dropout) is derived from (seed, epoch), so a run
 * resumed from the checkpoint after epoch k replays epochs k+1… exactly as an uninterrupted run would.
 */
import type { InputShape } from '../common/input-shape';
import * as tf from '@tensorflow/tfjs';
import { fillBatch, fillShiftedBatch } from './batches';
import { distillationLoss } from './losses';
import { softBatch } from './soft-targets';
import type { StoredSoftTargets } from './soft-targets';
import type { Net } from './models';
import { exportWeights, importWeights } from './models';
import type { LrSchedule, OptimizerSpec } from './optimizers';
import { Optimizer, learningRateAt } from './optimizers';
import { Rng, deriveSeed } from './rng';
import type { RawTensor } from '../common/raw-tensor';
import type { Pixels } from './datasets';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerSpec;
  /** @default { kind: 'constant' } */
  lrSchedule?: LrSchedule;
  seed: number;
  /** Max translation in pixels applied to every training image. @default 0 */
  jitter?: number;
  /** Distillation temperature (only with soft targets). @default 1 */
  temperature?: number;
  /** Weight of the soft term (only with soft targets). @default 1 */
  alpha?: number;
  /**
   * Stop after this many epochs, with the learning rate still scheduled over `epochs`: the result is
   * the first epochs of the full run, which a later call resumes (successive halving). @default epochs
   */
  stopAfterEpoch?: number;
}

export interface TrainData {
  /** The full image array (uint8, n × rows·cols); `indices` selects the training examples. */
  images: Pixels;
  labels: Uint8Array;
  side: InputShape;
  indices: Int32Array;
  /** Teacher probabilities at T, row i for indices[i]: n × numClasses, or top-k buckets (ml/soft-targets.ts). */
  softTargets?: StoredSoftTargets;
  /**
   * Online distillation: the teachers' probabilities at T on exactly the batch the student sees (its jittered
   * view), computed every step instead of read from stored soft targets. Wins over `softTargets`.
   */
  teacher?: (x: tf.Tensor2D) => tf.Tensor2D;
  /**
   * Consistent views (ml/views.ts): row i of `indices` is always shifted by `shift(i)`, the view its stored soft
   * target was computed on, instead of a random jitter (which must then be 0).
   */
  views?: { shift(row: number): readonly [number, number] };
}

export interface EpochStats {
  epoch: number;
  loss: number;
  /** Accuracy on the training batches seen this epoch (with dropout/jitter active). */
  trainAccuracy: number;
  learningRate: number;
  seconds: number;
}

/** Everything needed to continue training after `epoch` completed epochs. */
export interface TrainSnapshot {
  epoch: number;
  weights: Record<string, RawTensor>;
  optimizer: Record<string, RawTensor>;
  history: EpochStats[];
}

export interface TrainHooks {
  /** Called every `progressEvery` batches; keep it cheap (heartbeat). */
  onBatch?(p: { epoch: number; batch: number; batches: number; loss: number }): void;
  /** Called after each epoch with a lazily built snapshot (build it only when checkpointing). */
  onEpochEnd?(stats: EpochStats, snapshot: () => TrainSnapshot): Promise<void>;
  /** Throws to stop (cancellation); called between batches. */
  throwIfCancelled?(): void;
  /** @default 20 */
  progressEvery?: number;
}

export class NonFiniteLossError extends Error {
  override readonly name = 'NonFiniteLoss';
  constructor(
    readonly epoch: number,
    readonly batch: number,
    readonly value: number,
  ) {
    super(`loss became ${value} at epoch ${epoch}, batch ${batch}`);
  }
}

/** Lets timers, heartbeats and cancellation run between synchronous native ops. */
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function train(
  net: Net,
  data: TrainData,
  cfg: TrainConfig,
  hooks: TrainHooks = {},
  resume?: TrainSnapshot,
): Promise<EpochStats[]> {
  const opt = new Optimizer(cfg.optimizer, net.params);
  const history: EpochStats[] = resume ? [...resume.history] : [];
  if (resume) {
    importWeights(net, resume.weights);
    opt.loadState(resume.optimizer);
  }
  const n = data.indices.length;
  const C = net.numClasses;
  const bs = Math.min(cfg.batchSize, n);
  const batches = Math.ceil(n / bs);
  const xBuf = new Float32Array(bs * net.inputSize);
  const yBuf = new Int32Array(bs);
  const sBatch = data.softTargets ? softBatch(data.softTargets, bs, C) : undefined;
  const every = hooks.progressEvery ?? 20;
  const T = cfg.temperature ?? 1;
  const last = Math.min(cfg.epochs, cfg.stopAfterEpoch ?? cfg.epochs);

  try {
    for (let epoch = resume?.epoch ?? 0; epoch < last; epoch++) {
      const started = Date.now();
      const lr = learningRateAt(cfg.optimizer, cfg.lrSchedule ?? { kind: 'constant' }, epoch, cfg.epochs);
      const order = new Rng(deriveSeed(cfg.seed, `shuffle/${epoch}`)).shuffle(
        Int32Array.from({ length: n }, (_, i) => i),
      );
      const jitterRng = new Rng(deriveSeed(cfg.seed, `jitter/${epoch}`));
      const dropoutRng = new Rng(deriveSeed(cfg.seed, `dropout/${epoch}`));
      let lossSum = 0;
      let correct = 0;
      for (let b = 0; b < batches; b++) {
        hooks.throwIfCancelled?.();
        const start = b * bs;
        const count = Math.min(bs, n - start);
        const rows = order.subarray(start, start + count);
        const picked = Int32Array.from(rows, (r) => data.indices[r]!);
        if (data.views)
          fillShiftedBatch(data.images, data.side, picked, count, xBuf, (b) => data.views!.shift(rows[b]!));
        else fillBatch(data.images, data.side, picked, 0, count, xBuf, cfg.jitter ?? 0, jitterRng);
        for (let i = 0; i < count; i++) yBuf[i] = data.labels[picked[i]!]!;
        sBatch?.fill(rows, count);

        const { lossValue, batchCorrect } = tf.tidy(() => {
          const x = tf.tensor2d(xBuf.subarray(0, count * net.inputSize), [count, net.inputSize]);
          const y = tf.tensor1d(yBuf.subarray(0, count), 'int32');
          const soft = data.teacher ? data.teacher(x) : sBatch?.tensors(count);
          let hits: tf.Tensor | undefined;
          const lossValue = opt.minimize(() => {
            const logits = net.forward(x, { training: true, rng: dropoutRng });
            // Kept out of variableGrads' internal tidy so accuracy can be read after the step.
            hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32')));
            return distillationLoss(logits, {
              labels: y,
              temperature: T,
              ...(soft ? { softTargets: soft, alpha: cfg.alpha ?? 1 } : {}),
            });
          }, lr);
          const batchCorrect = hits!.dataSync()[0]!;
          hits!.dispose();
          return { lossValue, batchCorrect };
        });
        if (!Number.isFinite(lossValue)) throw new NonFiniteLossError(epoch + 1, b + 1, lossValue);
        net.applyConstraints();
        lossSum += lossValue * count;
        correct += batchCorrect;
        if ((b + 1) % every === 0) hooks.onBatch?.({ epoch: epoch + 1, batch: b + 1, batches, loss: lossValue });
        await yieldToEventLoop();
      }
      const stats: EpochStats = {
        epoch: epoch + 1,
        loss: lossSum / n,
        trainAccuracy: correct / n,
        learningRate: lr,
        seconds: (Date.now() - started) / 1000,
      };
      history.push(stats);
      await hooks.onEpochEnd?.(stats, () => ({
        epoch: epoch + 1,
        weights: exportWeights(net),
        optimizer: opt.state(),
        history: [...history],
      }));
    }
  } finally {
    opt.dispose();
  }
  return history;
}
