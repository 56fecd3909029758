/**
 * The training loop. Pure tfjs plus hooks: the activity layer supplies heartbeats, checkpoints and
 * cancellation through {@link TrainHooks}, so this file knows nothing about Temporal or storage.
 *
 * Every epoch's randomness (shuffle order, jitter, dropout) is derived from (seed, epoch), so a run
 * resumed from the checkpoint after epoch k replays epochs k+1… exactly as an uninterrupted run would.
 */
import * as tf from '@tensorflow/tfjs';
import { fillBatch, fillShiftedBatch } from './batches';
import { softBatch } from './soft-targets';
import type { SoftBatch, StoredSoftTargets } from './soft-targets';
import type { Net } from './models';
import { importWeights } from './models';
import { Optimizer, learningRateAt } from './optimizers';
import { Rng, deriveSeed } from './rng';
import { Stepper } from './stepper';
import { scoped } from './tidy-values';
import { epochWindows, shardStarts, windowPositions } from './shards';
import type { StreamWindow } from './shards';
import type {
  EpochStats,
  InMemoryExamples,
  SoftTargetReader,
  StreamPosition,
  TrainConfig,
  TrainData,
  TrainHooks,
  TrainSnapshot,
} from './train-types';

/** The loop's types live in ./train-types (shared with ./stepper); callers keep importing them from here. */
export type * from './train-types';

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
        ...(cfg.optimizer.kind === 'sgd' && cfg.optimizer.momentumRamp ? { momentum: opt.momentum } : {}),
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
