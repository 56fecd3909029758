/**
 * What training takes and gives (ml/train.ts): its config, its data, the hooks the activity layer supplies, the
 * per-epoch stats and the snapshot a run resumes from. Types only, so the loop and its stepper share them.
 */
import type { InputShape } from '../common/input-shape';
import type * as tf from '@tensorflow/tfjs';
import type { RawTensor } from '../common/raw-tensor';
import type { StepPlan } from './compiled-step';
import type { Pixels } from './datasets';
import type { LrSchedule, OptimizerSpec } from './optimizers';
import type { StreamLayout } from './shards';
import type { StoredSoftTargets } from './soft-targets';

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

/** A split's examples in memory: inputs (n × rows·cols·channels) and labels, indexed by example. */
export interface InMemoryExamples {
  images: Pixels;
  labels: Uint8Array;
}

/**
 * A split read a window of shards at a time (ml/shards.ts): training holds the window it trains and the next
 * one, prefetched, never the whole split.
 */
export interface ShardStream extends StreamLayout {
  /** Examples in shard s (shardSize except for the split's last shard). */
  shardLength(s: number): number;
  /** The shards' examples, concatenated in the order given. */
  load(shards: readonly number[]): Promise<InMemoryExamples>;
}

/** The examples as one array in memory, or as a stream of shards. */
export type ExampleData = InMemoryExamples | { stream: ShardStream };

export type TrainData = ExampleData & {
  side: InputShape;
  /** The training examples (sorted when streamed); row i of the training set is example indices[i]. */
  indices: Int32Array;
  /**
   * Teacher probabilities at T, row i for indices[i]: n × numClasses, or top-k buckets (ml/soft-targets.ts); or a
   * reader of them, which a streamed run asks for each window's rows only.
   */
  softTargets?: StoredSoftTargets | SoftTargetReader;
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
};

/** Soft targets read a window at a time: the rows [from, to) of each range in turn, concatenated. */
export interface SoftTargetReader {
  read(ranges: readonly (readonly [number, number])[]): Promise<StoredSoftTargets>;
}

export interface EpochStats {
  epoch: number;
  loss: number;
  /** Accuracy on the training batches seen this epoch (with dropout/jitter active). */
  trainAccuracy: number;
  learningRate: number;
  /** SGD's momentum this epoch, where it follows a schedule (`momentumRamp`). */
  momentum?: number;
  seconds: number;
}

/** Everything needed to continue training after `epoch` completed epochs (and `position`'s windows of the next). */
export interface TrainSnapshot {
  epoch: number;
  /** Part of epoch `epoch` + 1 already trained: its first `window` windows, and their running totals. */
  position?: StreamPosition;
  weights: Record<string, RawTensor>;
  optimizer: Record<string, RawTensor>;
  history: EpochStats[];
}

/** How far into an epoch a streaming run is: windows done, and the loss and hits they summed to. */
export interface StreamPosition {
  window: number;
  lossSum: number;
  correct: number;
  seconds: number;
}

export interface TrainHooks {
  /** Called every `progressEvery` batches; keep it cheap (heartbeat). */
  onBatch?(p: { epoch: number; batch: number; batches: number; loss: number }): void;
  /** Called after each epoch with a lazily built snapshot (build it only when checkpointing). */
  onEpochEnd?(stats: EpochStats, snapshot: () => TrainSnapshot): Promise<void>;
  /**
   * Called after each window of a streaming epoch but its last (`epoch` counts from 1, `window` windows done), with
   * a lazily built snapshot to resume from there.
   */
  onWindowEnd?(p: { epoch: number; window: number; windows: number }, snapshot: () => TrainSnapshot): Promise<void>;
  /** Throws to stop (cancellation); called between batches. */
  throwIfCancelled?(): void;
  /** @default 20 */
  progressEvery?: number;
  /** Called once, at the first step: which step path training takes (ml/compiled-step.ts), and why. */
  onStepPlan?(plan: StepPlan): void;
}
