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
import { softBatch } from './soft-targets';
import type { SoftBatch, StoredSoftTargets } from './soft-targets';
import type { Net } from './models';
import { exportWeights, importWeights } from './models';
import type { LrSchedule, OptimizerSpec } from './optimizers';
import { Optimizer, learningRateAt, momentumAt } from './optimizers';
import { Rng, deriveSeed } from './rng';
import { trainStep } from './train-step';
import type { TrainBatch } from './train-step';
import { CompiledStep, compiledStepPlan } from './compiled-step';
import type { StepPlan } from './compiled-step';
import type { StepResult } from './mlp-step';
import { scoped } from './tidy-values';
import type { RawTensor } from '../common/raw-tensor';
import type { Pixels } from './datasets';
import { epochWindows, shardStarts, windowPositions } from './shards';
import type { StreamLayout, StreamWindow } from './shards';

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

/** A window's examples, where each example index lies in them, and (distillation) its rows' soft targets. */
type WindowData = InMemoryExamples & {
  position: (index: number) => number;
  soft?: { targets: StoredSoftTargets; local: (row: number) => number };
};

/** Where training reads an epoch's windows from: all rows at once in memory, or shards from a stream. */
interface WindowSource {
  windows(epoch: number): StreamWindow[];
  load(w: StreamWindow): Promise<WindowData>;
}

const isReader = (t: TrainData['softTargets']): t is SoftTargetReader => t !== undefined && 'read' in t;

function windowSource(data: TrainData, seed: number): WindowSource {
  const n = data.indices.length;
  const given = data.softTargets;
  if (!('stream' in data)) {
    // In memory: every window is all rows, and the soft targets are read (once, when first needed) whole.
    let whole: Promise<StoredSoftTargets | undefined> | undefined;
    const all = { images: data.images, labels: data.labels, position: (i: number) => i };
    const identity = (r: number) => r;
    return {
      windows: (epoch) => [
        {
          shards: [],
          rows: new Rng(deriveSeed(seed, `shuffle/${epoch}`)).shuffle(Int32Array.from({ length: n }, (_, i) => i)),
          label: `${epoch}`,
        },
      ],
      load: async () => {
        const targets = await (whole ??= isReader(given) ? given.read([[0, n]]) : Promise.resolve(given));
        return targets ? { ...all, soft: { targets, local: identity } } : all;
      },
    };
  }
  const { stream } = data;
  const starts = shardStarts(data.indices, stream.shardSize, Math.ceil((data.indices.at(-1)! + 1) / stream.shardSize));
  const soft = async (w: StreamWindow): Promise<WindowData['soft']> => {
    if (!given) return undefined;
    if (!isReader(given)) return { targets: given, local: (r) => r };
    // The window's rows are its shards' row ranges; they are read in window order, so a row's place is its
    // shard's offset plus its place in the shard.
    const ranges = w.shards.map((s) => [starts[s]!, starts[s + 1]!] as const);
    const base = new Map<number, number>();
    ranges.reduce((at, [from, to], i) => (base.set(w.shards[i]!, at - from), at + to - from), 0);
    const local = (r: number) => base.get(Math.floor(data.indices[r]! / stream.shardSize))! + r;
    return { targets: await given.read(ranges), local };
  };
  return {
    windows: (epoch) => epochWindows(starts, stream, seed, epoch),
    load: async (w) => {
      const [examples, targets] = await Promise.all([stream.load(w.shards), soft(w)]);
      const position = windowPositions(w.shards, stream.shardSize, (s) => stream.shardLength(s));
      return { ...examples, position, ...(targets ? { soft: targets } : {}) };
    },
  };
}

/** A window of an epoch, and the epoch's batch numbering: batches before this window's first, and in all. */
type Position = { epoch: number; index: number; windows: StreamWindow[]; before: number; batches: number };

function* positions(
  source: WindowSource,
  from: { epoch: number; window: number },
  last: number,
  bs: number,
): Generator<Position> {
  for (let epoch = from.epoch; epoch < last; epoch++) {
    const windows = source.windows(epoch);
    // Once an epoch: a batch never spans two windows, so window w's batches start after those of the ones before.
    const starts = [0];
    for (const w of windows) starts.push(starts.at(-1)! + Math.ceil(w.rows.length / bs));
    for (let index = epoch === from.epoch ? from.window : 0; index < windows.length; index++)
      yield { epoch, index, windows, before: starts[index]!, batches: starts.at(-1)! };
  }
}

/** The windows from `from` on, each loading while the one before it trains: at most two in memory. */
async function* prefetched(
  source: WindowSource,
  from: { epoch: number; window: number },
  last: number,
  bs: number,
): AsyncGenerator<Position & { data: WindowData }> {
  const it = positions(source, from, last, bs);
  const load = (p: IteratorResult<Position>) => (p.done ? undefined : source.load(p.value.windows[p.value.index]!));
  let current = it.next();
  let pending = load(current);
  while (!current.done) {
    const data = await pending!;
    const following = it.next();
    pending = load(following);
    pending?.catch(() => undefined); // a failed prefetch fails when its window is reached
    yield { ...current.value, data };
    current = following;
  }
}

/** Running totals of one epoch. */
interface EpochTotals {
  lossSum: number;
  correct: number;
  /** Seconds of earlier attempts at this epoch (a run resumed mid-epoch), so its time is not lost. */
  seconds: number;
  started: number;
}

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
  const bs = Math.min(cfg.batchSize, n);
  const stepper = new Stepper(net, opt, cfg, hooks);
  const step = batchStep(net, stepper, data, cfg, bs);
  const every = hooks.progressEvery ?? 20;
  const last = Math.min(cfg.epochs, cfg.stopAfterEpoch ?? cfg.epochs);
  const from = { epoch: resume?.epoch ?? 0, window: resume?.position?.window ?? 0 };
  const p = resume?.position;
  let totals: EpochTotals = {
    lossSum: p?.lossSum ?? 0,
    correct: p?.correct ?? 0,
    seconds: p?.seconds ?? 0,
    started: Date.now(),
  };
  const snapshot = (epoch: number, position?: StreamPosition) => (): TrainSnapshot => ({
    epoch,
    ...(position ? { position } : {}),
    ...stepper.state(),
    history: [...history],
  });

  try {
    const source = windowSource(data, cfg.seed);
    for await (const { epoch, index, windows, before, batches, data: examples } of prefetched(source, from, last, bs)) {
      const lr = learningRateAt(cfg.optimizer, cfg.lrSchedule ?? { kind: 'constant' }, epoch, cfg.epochs);
      stepper.setEpoch(epoch);
      const w = windows[index]!;
      const rngs = {
        jitter: new Rng(deriveSeed(cfg.seed, `jitter/${w.label}`)),
        dropout: new Rng(deriveSeed(cfg.seed, `dropout/${w.label}`)),
      };
      for (let start = 0, b = before; start < w.rows.length; start += bs, b++) {
        hooks.throwIfCancelled?.();
        const rows = w.rows.subarray(start, Math.min(start + bs, w.rows.length));
        const { lossValue, batchCorrect } = step(examples, rows, lr, rngs);
        if (!Number.isFinite(lossValue)) throw new NonFiniteLossError(epoch + 1, b + 1, lossValue);
        totals.lossSum += lossValue * rows.length;
        totals.correct += batchCorrect;
        if ((b + 1) % every === 0) hooks.onBatch?.({ epoch: epoch + 1, batch: b + 1, batches, loss: lossValue });
        await yieldToEventLoop();
      }
      const seconds = totals.seconds + (Date.now() - totals.started) / 1000;
      if (index + 1 < windows.length) {
        const position = { window: index + 1, lossSum: totals.lossSum, correct: totals.correct, seconds };
        const at = { epoch: epoch + 1, window: index + 1, windows: windows.length };
        await hooks.onWindowEnd?.(at, snapshot(epoch, position));
        continue;
      }
      const stats: EpochStats = {
        epoch: epoch + 1,
        loss: totals.lossSum / n,
        trainAccuracy: totals.correct / n,
        learningRate: lr,
        ...(cfg.optimizer.kind === 'sgd' && cfg.optimizer.momentumRamp
          ? { momentum: momentumAt(cfg.optimizer, epoch) }
          : {}),
        seconds,
      };
      history.push(stats);
      await hooks.onEpochEnd?.(stats, snapshot(epoch + 1));
      totals = { lossSum: 0, correct: 0, seconds: 0, started: Date.now() };
    }
  } finally {
    stepper.finish();
    opt.dispose();
  }
  return history;
}

/**
 * Takes each step on the compiled path (one TensorFlow call, ml/compiled-step.ts) where it applies, else the eager
 * one; decided at the first step, when the batch shows which soft targets training has, and reported once.
 */
class Stepper {
  private compiled: CompiledStep | undefined;
  private plan: StepPlan | undefined;

  constructor(
    private readonly net: Net,
    private readonly opt: Optimizer,
    private readonly cfg: TrainConfig,
    private readonly hooks: TrainHooks,
  ) {}

  /** Moves the momentum schedule to `epoch` (0-based), on whichever path steps. */
  setEpoch(epoch: number): void {
    this.opt.setEpoch(epoch);
    if (this.compiled) this.compiled.momentum = this.opt.momentum;
  }

  step(batch: TrainBatch, lr: number, rng: Rng): StepResult {
    this.plan ??= this.choose(batch);
    const { x, labels, softTargets, temperature = 1 } = batch;
    if (this.compiled) return this.compiled.step({ x, labels, softTargets }, lr, temperature, this.cfg.alpha ?? 1, rng);
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
      this.compiled.momentum = this.opt.momentum;
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

type Step = (
  examples: WindowData,
  rows: Int32Array,
  lr: number,
  rngs: { jitter: Rng; dropout: Rng },
) => { lossValue: number; batchCorrect: number };

/** One optimiser step on the given rows of the training set; returns the batch's loss and correct answers. */
function batchStep(net: Net, stepper: Stepper, data: TrainData, cfg: TrainConfig, bs: number): Step {
  const xBuf = new Float32Array(bs * net.inputSize);
  const yBuf = new Int32Array(bs);
  const picked = new Int32Array(bs);
  const localRows = new Int32Array(bs);
  // Batch buffers for the targets in hand: a streamed run reads new ones with every window.
  let sBatch: { targets: StoredSoftTargets; batch: SoftBatch } | undefined;
  const T = cfg.temperature ?? 1;
  return (examples, rows, lr, rngs) => {
    const count = rows.length;
    const { soft } = examples;
    if (soft && sBatch?.targets !== soft.targets)
      sBatch = { targets: soft.targets, batch: softBatch(soft.targets, bs, net.numClasses) };
    for (let i = 0; soft && i < count; i++) localRows[i] = soft.local(rows[i]!);
    for (let i = 0; i < count; i++) picked[i] = examples.position(data.indices[rows[i]!]!);
    const { views } = data;
    if (views) fillShiftedBatch(examples.images, data.side, picked, count, xBuf, (b) => views.shift(rows[b]!));
    else fillBatch(examples.images, data.side, picked, 0, count, xBuf, cfg.jitter ?? 0, rngs.jitter);
    for (let i = 0; i < count; i++) yBuf[i] = examples.labels[picked[i]!]!;
    if (soft) sBatch!.batch.fill(localRows, count);
    const { loss: lossValue, correct: batchCorrect } = scoped(() => {
      const x = tf.tensor2d(xBuf.subarray(0, count * net.inputSize), [count, net.inputSize]);
      const labels = tf.tensor1d(yBuf.subarray(0, count), 'int32');
      const targets = data.teacher ? data.teacher(x) : soft ? sBatch!.batch.tensors(count) : undefined;
      const terms = targets ? { softTargets: targets, alpha: cfg.alpha ?? 1 } : {};
      return stepper.step({ x, labels, temperature: T, ...terms }, lr, rngs.dropout);
    });
    return { lossValue, batchCorrect };
  };
}
