/**
 * Compute-queue activities: thin adapters that load data and weights, call ml/, and publish results.
 * Long ones heartbeat, checkpoint to the store, resume from the newest checkpoint on retry, and stop
 * on cancellation between batches.
 */
import type { ApplicationFailure } from '@temporalio/common';
import * as tf from '@tensorflow/tfjs';
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import { digestOf } from '../storage/hash';
import { metrics, predictLogits, searchBiasShift, biasVector } from '../ml/evaluate';
import { netInference } from '../ml/compiled-inference';
import { ensembleAt, softTargetsAt } from '../ml/losses';
import type { StoredSoftTargets } from '../ml/soft-targets';
import { loadExport } from '../ml/export';
import type { Dataset } from '../ml/datasets';
import { makePlan, planWarnings } from '../ml/splits';
import { train } from '../ml/train';
import type { SoftTargetReader } from '../ml/train';
import { softTargetPartsReader, wholeSoftTargets } from '../artifacts/soft-target-parts';
import { DEFAULT_VIEW_JITTER, quantizeKindSchema, tableModelIssues, transferClassIssues } from '../config/schemas';
import { VIEW_RULE, rowShift, viewIndices } from '../ml/views';
import type { DataSpec, TransferSpec } from '../config/schemas';
import type { QuantizeKind } from '../contracts/vocabulary';
import {
  keys,
  loadModelNet,
  loadPlan,
  modelInputOf,
  publishModel,
  savePlan,
  storeLayersModel,
} from '../artifacts/models';
import { datasetFor, datasetWithRows, loadSource, trainingData } from '../data/sources';
import { writeShards } from '../data/shards';
import { activityContext, runDurableTraining } from './durable-training';
import { modelDigest, partialEpoch } from '../artifacts/digests';
import { modelCostActivities } from './model-cost';
import { sizedNet, studentImportActivities } from './student-import';
import { teacherImportActivities } from './teacher-import';
import { withImportedTeacher } from '../artifacts/imported-teachers';
import { membersOf } from '../common/soft-target-blocks';
import { memberLogits, softTargetBlockActivities, softTargetInputs, storeSoftTargets } from './soft-target-blocks';
import type { ComputeDeps } from './compute-deps';
import { bindActivities, invalidInput, invalidInputIssues } from './failures';
import { parseUserFile } from '../data/user-files';
import type { EnsembleRequest, EvaluateRequest, ScoredModel, SoftTargetsRequest } from '../contracts/exchange';
import type {
  DataPlanRef,
  EvaluationSummary,
  ModelRef,
  SoftTargetsRef,
  TrainRequest,
  TrainResult,
} from '../contracts/exchange';

/** The config field a training request's model spec came from, for error messages. */
function specField(req: TrainRequest): string {
  if (req.role === 'teacher') return 'teachers.model';
  if (req.role === 'baseline' || req.role === 'student') return 'student.model';
  return req.name === 'generalist' ? 'generalist.model' : 'model';
}

/** A CNN or a jitter asked of a table: the config refuses them, and search candidates or specialists end here. */
function tableProblem(req: TrainRequest, ds: Pick<Dataset, 'features'>): ApplicationFailure | undefined {
  const [issue] = ds.features ? tableModelIssues(req.spec, req.train) : [];
  const parent = specField(req).replace(/\.model$/, '');
  return issue && invalidInput(`${parent}.${issue.path.join('.')}: ${issue.message}`);
}

async function prepareData(
  deps: ComputeDeps,
  /** `transferField`: where the config holds the transfer rule, for messages. @default 'transfer' */
  req: { data: DataSpec; transfer: TransferSpec; seed: number; transferField?: string },
): Promise<DataPlanRef> {
  const { store } = deps;
  const ds = await loadSource(req.data, deps);
  const classIssues = transferClassIssues(req.transfer, req.data.dataset, ds.numClasses);
  const field = req.transferField ?? 'transfer';
  if (classIssues.length > 0)
    throw invalidInputIssues(classIssues.map((i) => ({ path: [field, ...i.path].join('.'), message: i.message })));
  const splitSpec = {
    validationSize: req.data.validationSize,
    trainLimit: req.data.trainLimit,
    seed: req.seed,
  };
  const trainDigest = digestOf({
    dataset: ds.digest,
    validationSize: splitSpec.validationSize,
    trainLimit: splitSpec.trainLimit,
    seed: req.seed,
  });
  // Views are rows of the soft targets, not a different choice of examples: the plan's rule is without them.
  const { views, viewJitter, ...rule } = req.transfer;
  if (views !== undefined && views > 1 && ds.features)
    throw invalidInput(`${field}.views: views shift pixels; rows of a table (dataset "csv") take views 1`);
  const viewSpec =
    views !== undefined && views > 1
      ? { count: views, jitter: viewJitter ?? DEFAULT_VIEW_JITTER, seed: req.seed }
      : null;
  // Without views the digest is what it always was; with them it names K, the bound and the shift rule, so the
  // soft-target cache key and the students' digests do too (teachers depend on trainDigest only: reused).
  const planDigest = digestOf({
    trainDigest,
    transfer: rule,
    ...(viewSpec ? { views: { count: viewSpec.count, jitter: viewSpec.jitter, rule: VIEW_RULE } } : {}),
  });
  const plan = makePlan(ds.train.labels, { ...splitSpec, transfer: rule });
  const warnings = planWarnings(ds.train.n, plan, { ...splitSpec, transfer: rule });
  if (warnings.length > 0)
    deps.logger.warn({ warnings, dataset: req.data.dataset }, `data split: ${warnings.join('; ')}`);
  if (ds.ignored) deps.logger.warn({ ignored: ds.ignored, dataset: req.data.dataset }, ds.ignored.join('; '));
  const ref = await savePlan(store, planDigest, plan);
  const shards = req.data.shards && {
    manifest: await writeShards(store, ds, req.data.shards.size),
    size: req.data.shards.size,
    ...(req.data.shards.window !== undefined ? { window: req.data.shards.window } : {}),
  };
  return {
    dataset: req.data.dataset,
    ...(req.data.idx ? { idx: req.data.idx } : {}),
    ...(req.data.images ? { images: req.data.images } : {}),
    ...(req.data.csv ? { csv: req.data.csv } : {}),
    ...(req.data.normalize ? { normalize: req.data.normalize } : {}),
    datasetDigest: ds.digest,
    trainDigest,
    planDigest,
    plan: ref,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    counts: {
      train: plan.train.length,
      validation: plan.validation.length,
      // With views: the rows of the soft targets (examples × views), which the teacher fan-out plans its blocks by.
      transfer: plan.transfer.length * (viewSpec?.count ?? 1),
      test: ds.test.n,
    },
    ...(viewSpec ? { views: { ...viewSpec, examples: plan.transfer.length } } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(ds.ignored ? { ignored: ds.ignored } : {}),
    ...(shards ? { shards } : {}),
  };
}

async function trainModel(deps: ComputeDeps, req: TrainRequest): Promise<TrainResult> {
  const { store } = deps;
  const digest = modelDigest(req);
  const stop = partialEpoch(req);
  return runDurableTraining(
    deps,
    { activity: 'trainModel', ...req, digest },
    {
      reused: async () => ({}),
      train: async ({ resume, hooks }, log) => {
        const { info: ds, examples } = await trainingData(req.data, deps);
        const plan = await loadPlan(store, req.data.plan);
        // A student of stored soft targets with views trains on every view row, each with its fixed shift.
        const views = req.split === 'transfer' && req.distill ? viewRows(req, plan.transfer) : undefined;
        const indices = req.split === 'train' ? plan.train : (views?.indices ?? plan.transfer);
        const side = ds.shape;
        const notForTables = tableProblem(req, ds);
        if (notForTables) throw notForTables;
        const net = await sizedNet(
          store,
          req.spec,
          { inputShape: side, numClasses: ds.numClasses, seed: req.seed },
          { batchSize: req.train.batchSize, limits: deps.limits, field: specField(req) },
        );
        const distill = req.distill ? { T: req.distill.temperature, alpha: req.distill.alpha } : null;
        log.info(
          { role: req.role, spec: req.spec, epochs: req.train.epochs, examples: indices.length, distill },
          `training ${req.name}`,
        );
        let cleanup: (() => void) | undefined;
        try {
          const online = req.distill?.online ? await onlineTeacher(store, req.distill) : undefined;
          cleanup = online?.dispose;
          const streamed = 'stream' in examples;
          const softTargets =
            req.distill && !online ? await studentSoftTargets(store, req.distill, streamed) : undefined;
          const data = {
            ...examples,
            side,
            indices,
            ...(online ? { teacher: online.teacher } : {}),
            ...(views ? { views: { shift: views.shift } } : {}),
          };
          const { epochs, batchSize, optimizer, lrSchedule, jitter } = req.train;
          const stopAfterEpoch = stop !== undefined ? { stopAfterEpoch: stop } : {};
          const temperature = req.distill ? { temperature: req.distill.temperature, alpha: req.distill.alpha } : {};
          const history = await train(
            net,
            { ...data, ...(softTargets ? { softTargets } : {}) },
            { epochs, batchSize, optimizer, lrSchedule, jitter, seed: req.seed, ...temperature, ...stopAfterEpoch },
            hooks,
            resume,
          );
          const model = await publishModel(
            store,
            { digest, epoch: stop },
            net,
            side,
            {
              name: req.name,
              role: req.role,
              data: { ...pick(req.data, 'dataset', 'datasetDigest', 'planDigest'), split: req.split },
              train: req.train,
              seed: req.seed,
              distill: req.distill ?? null,
              backend: deps.backend,
              history,
            },
            modelInputOf(ds),
          );
          return { model, history };
        } finally {
          net.dispose();
          cleanup?.();
        }
      },
    },
  );
}

/**
 * The view rows of a distilled student's transfer set (ml/views.ts) when the plan has views: every example K times,
 * each row with its view's shift. The student's own jitter and online teachers are refused (the config does so
 * first): both would give a row an input other than the one its soft target was computed on.
 */
function viewRows(
  req: TrainRequest,
  transfer: Int32Array,
): { indices: Int32Array; shift: (row: number) => [number, number] } | undefined {
  const spec = req.data.views;
  if (!spec) return undefined;
  const field = req.role === 'student' || req.role === 'baseline' ? 'student.train.jitter' : 'train.jitter';
  if (req.train.jitter > 0)
    throw invalidInput(`${field}: with transfer.views > 1 each row is a fixed view: give jitter 0`);
  if (req.distill?.online) throw invalidInput(`${req.name}: online teachers and transfer.views are alternatives`);
  return { indices: viewIndices(transfer, spec.count), shift: rowShift(spec, transfer) };
}

/**
 * The teachers of an online student, loaded once: their ensemble's probabilities at the student's T on each
 * batch as the student sees it (dropout off).
 */
async function onlineTeacher(
  store: ArtifactStore,
  distill: NonNullable<TrainRequest['distill']>,
): Promise<{ teacher: (x: tf.Tensor2D) => tf.Tensor2D; dispose: () => void }> {
  const nets = await Promise.all(distill.online!.teachers.map(async (t) => loadModelNet(store, t)));
  // Each teacher's batch as one TensorFlow call where it can be (ml/compiled-inference.ts).
  const inferences = nets.map((n) => netInference(n));
  const { temperature, ensemble } = distill;
  return {
    teacher: (x) =>
      tf.tidy(() => ensembleAt(tf.stack(inferences.map((n) => n.forward(x))) as tf.Tensor3D, temperature, ensemble)),
    dispose: () => {
      inferences.forEach((i) => i.dispose());
      nets.forEach((n) => n.dispose());
    },
  };
}

/**
 * Soft targets at the student's temperature, from the stored teacher logits (full or top-k): for a streamed run of
 * parted soft targets a reader of each window's rows, else all of them.
 */
async function studentSoftTargets(
  store: ArtifactStore,
  distill: NonNullable<TrainRequest['distill']>,
  streamed: boolean,
): Promise<StoredSoftTargets | SoftTargetReader> {
  const { softTargets: ref, temperature, ensemble } = distill;
  if (streamed && ref.parts) return softTargetPartsReader(store, ref, temperature, ensemble);
  return wholeSoftTargets(store, ref, temperature, ensemble);
}

function pick<T, K extends keyof T>(o: T, ...ks: K[]): Pick<T, K> {
  return Object.fromEntries(ks.map((k) => [k, o[k]])) as Pick<T, K>;
}

async function computeSoftTargets(deps: ComputeDeps, req: SoftTargetsRequest): Promise<SoftTargetsRef> {
  const { ds, transfer } = await softTargetInputs(deps, req);
  const C = ds.numClasses;
  const views = req.data.views;
  const n = transfer.length * (views?.count ?? 1);
  const members = membersOf(req);
  const all = new Float32Array(members.length * n * C);
  let inferenceSeconds = 0;
  for (const [m, member] of members.entries()) {
    const t0 = performance.now();
    all.set(await memberLogits(deps.store, member, ds, transfer, { start: 0, count: n }, views), m * n * C);
    inferenceSeconds += (performance.now() - t0) / 1000;
    activityContext()?.heartbeat({ teacher: m + 1 });
  }
  return storeSoftTargets(deps, req, all, { n, C, inferenceSeconds });
}

/** Test and validation logits of one model (n × C, row-major), and the seconds their forward passes took. */
interface Logits {
  test: Float32Array;
  validation: Float32Array;
  seconds: number;
}

async function modelLogits(
  store: ArtifactStore,
  model: ModelRef,
  ds: Awaited<ReturnType<typeof datasetFor>>,
  validation: Int32Array,
): Promise<Logits> {
  const net = await loadModelNet(store, model);
  try {
    return await timedLogits((images, indices) => predictLogits(net, images, ds.shape, indices), ds, validation);
  } finally {
    net.dispose();
  }
}

/** Test-set and validation logits through `forward`, timed (loading excluded). */
async function timedLogits(
  forward: (images: Dataset['train']['images'], indices: Int32Array) => Promise<Float32Array>,
  ds: Dataset,
  validation: Int32Array,
): Promise<Logits> {
  const t0 = performance.now();
  const test = await forward(
    ds.test.images,
    Int32Array.from({ length: ds.test.n }, (_, i) => i),
  );
  const val = await forward(ds.train.images, validation);
  return { test, validation: val, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Logits of a model trained here or of an imported teacher (fed exactly as for its soft targets). An `.npy`
 * teacher is logits of the transfer set only: nothing to run on the test set.
 */
async function scoredLogits(store: ArtifactStore, m: ScoredModel, ds: Dataset, validation: Int32Array) {
  if ('model' in m) return modelLogits(store, m.model, ds, validation);
  const ref = m.imported;
  if (ref.kind === 'npy')
    throw invalidInput(
      `${ref.field}: an .npy teacher is logits of the transfer set, with no model to score on the test set`,
    );
  return withImportedTeacher(store, ref, ds, (forward) => timedLogits(forward, ds, validation));
}

const scoredDigest = (m: ScoredModel): string => ('model' in m ? m.model.digest : m.imported.digest);

/** Metrics of given logits on the test set (and validation split), stored in full, summarised. */
async function summarize(
  store: ArtifactStore,
  req: { name: string; digest: string; data: DataPlanRef; biasClasses?: number[] },
  ds: Awaited<ReturnType<typeof datasetFor>>,
  validation: Int32Array,
  logits: Logits,
): Promise<EvaluationSummary> {
  const C = ds.numClasses;
  const m = metrics(logits.test, ds.test.labels, C);
  const valLabels = Uint8Array.from(validation, (i) => ds.train.labels[i]!);
  let biasShift: EvaluationSummary['biasShift'];
  if (req.biasClasses && req.biasClasses.length > 0) {
    const onVal = searchBiasShift(logits.validation, valLabels, C, req.biasClasses);
    const onTest = searchBiasShift(logits.test, ds.test.labels, C, req.biasClasses);
    biasShift = {
      classes: req.biasClasses,
      validationShift: onVal.shift,
      testErrorsWithValidationShift: metrics(logits.test, ds.test.labels, C, biasVector(C, onVal)).errors,
      testOptimalShift: onTest.shift,
      testOptimalErrors: onTest.errors,
    };
  }
  const val = validation.length > 0 ? metrics(logits.validation, valLabels, C) : undefined;
  const details = await putJson(store, keys.evaluation(req.digest, req.data.planDigest), {
    name: req.name,
    model: req.digest,
    ...m,
    classNames: ds.classNames,
    biasShift: biasShift ?? null,
    validation: val ? { errors: val.errors, n: val.n, perClassErrors: val.perClassErrors } : null,
  });
  return {
    name: req.name,
    modelDigest: req.digest,
    errors: m.errors,
    n: m.n,
    accuracy: m.accuracy,
    perClassErrors: m.perClassErrors,
    ...(biasShift ? { biasShift } : {}),
    ...(val ? { validation: { errors: val.errors, n: val.n } } : {}),
    details,
    inferenceSeconds: logits.seconds,
  };
}

/** The test split and the validation examples (sharded: only those, read a shard at a time). */
async function scoringData(deps: ComputeDeps, data: DataPlanRef): Promise<{ ds: Dataset; validation: Int32Array }> {
  const { validation } = await loadPlan(deps.store, data.plan);
  const { ds, rows } = await datasetWithRows(data, deps, validation);
  return { ds, validation: rows };
}

async function evaluateModel(deps: ComputeDeps, req: EvaluateRequest): Promise<EvaluationSummary> {
  const { ds, validation } = await scoringData(deps, req.data);
  const logits = await scoredLogits(deps.store, req, ds, validation);
  return summarize(deps.store, { ...req, digest: scoredDigest(req) }, ds, validation, logits);
}

/**
 * The teacher ensemble as one model: its members' predictions (trained or given models, then imported teachers)
 * combined by the rule the students are distilled with (at T = 1), on the test set and the validation split.
 */
async function evaluateEnsemble(deps: ComputeDeps, req: EnsembleRequest): Promise<EvaluationSummary> {
  const { ds, validation } = await scoringData(deps, req.data);
  const scored: ScoredModel[] = [
    ...req.models.map((model) => ({ model })),
    ...(req.imported ?? []).map((imported) => ({ imported })),
  ];
  const members: Logits[] = [];
  for (const m of scored) {
    members.push(await scoredLogits(deps.store, m, ds, validation));
    activityContext()?.heartbeat({ members: members.length });
  }
  const C = ds.numClasses;
  const combine = (pick: (l: Logits) => Float32Array) => {
    const parts = members.map(pick);
    const n = parts[0]!.length / C;
    return n === 0 ? new Float32Array(0) : logOf(softTargetsAt(parts, n, C, 1, req.rule));
  };
  const digest = digestOf({ ensemble: scored.map(scoredDigest), rule: req.rule });
  const logits: Logits = {
    test: combine((l) => l.test),
    validation: combine((l) => l.validation),
    seconds: members.reduce((a, l) => a + l.seconds, 0),
  };
  return summarize(deps.store, { name: req.name, digest, data: req.data }, ds, validation, logits);
}

/** Log-probabilities: the combined ensemble's "logits" (argmax and softmax are unchanged). */
function logOf(probs: Float32Array): Float32Array {
  return probs.map((p) => Math.log(Math.max(p, 1e-30)));
}

/** Where an export's files are, and their total size (model.json + weights) in bytes. */
export interface ExportedFiles {
  modelJson: string;
  weights: string;
  exportBytes: number;
}

/**
 * Publishes a model in the standard tfjs layers format under exports/<digest>/, or with `quantize` a copy
 * with quantised weights under exports/<digest>-<quantize>/ (idempotent: a complete export is returned as is).
 */
async function exportModel(
  deps: ComputeDeps,
  req: {
    model: ModelRef;
    classNames: string[];
    /** Weight quantisation; absent: float32. */
    quantize?: QuantizeKind;
  },
): Promise<ExportedFiles> {
  const { store } = deps;
  const { quantize } = req;
  if (quantize !== undefined && !quantizeKindSchema.options.includes(quantize))
    throw invalidInput(
      `quantize: expected one of ${quantizeKindSchema.options.join(', ')}, ` + `got ${JSON.stringify(quantize)}`,
    );
  const dir = quantize ? keys.quantizedExportDir(req.model.digest, quantize) : keys.exportDir(req.model.digest);
  // model.json is written after the weights, so with it present the export is complete.
  const [json, weights] = await Promise.all([
    store.stat(`${dir}/model.json`),
    store.stat(`${dir}/group1-shard1of1.bin`),
  ]);
  if (json && weights) return { modelJson: json.key, weights: weights.key, exportBytes: json.bytes + weights.bytes };
  const stored = await storeLayersModel(store, req.model, dir, req.classNames, quantize);
  return { modelJson: stored.modelJson, weights: stored.weights, exportBytes: stored.bytes };
}

/** Test-set result of a stored export, and the export's size. */
export interface ExportEvaluation {
  name: string;
  errors: number;
  n: number;
  accuracy: number;
  /** model.json + weight shards, in bytes, as stored. */
  exportBytes: number;
}

/**
 * Test errors of a stored export (float32 or quantised), loaded with tfjs's own loader, which dequantises:
 * what a user of the export gets. Same test images and scaling as evaluateModel.
 */
async function evaluateExport(
  deps: ComputeDeps,
  /** `modelJson`: the store key of the export's model.json. */
  req: { modelJson: string; data: DataPlanRef; name: string },
): Promise<ExportEvaluation> {
  const { store } = deps;
  const suffix = '/model.json';
  if (typeof req.modelJson !== 'string' || !req.modelJson.endsWith(suffix))
    throw invalidInput(
      `modelJson: expected the store key of an export's model.json, ` + `got ${JSON.stringify(req.modelJson)}`,
    );
  const dir = req.modelJson.slice(0, -suffix.length);
  const ds = await datasetFor(req.data, deps);
  let exportBytes = 0;
  // The key comes from the request: whatever is stored there is parsed behind the user-file boundary.
  const where = { field: 'modelJson', file: `minio:${req.modelJson}`, format: 'TensorFlow.js layers model' };
  const model = await parseUserFile(where, () =>
    loadExport(async (file) => {
      const bytes = await store.get(`${dir}/${file}`);
      exportBytes += bytes.length;
      return bytes;
    }),
  );
  try {
    const testIdx = Int32Array.from({ length: ds.test.n }, (_, i) => i);
    const probs = await predictLogits(model, ds.test.images, ds.shape, testIdx);
    const { errors, n, accuracy } = metrics(probs, ds.test.labels, ds.numClasses);
    deps.logger.info({ name: req.name, modelJson: req.modelJson, errors, n, exportBytes }, 'export evaluated');
    return { name: req.name, errors, n, accuracy, exportBytes };
  } finally {
    model.dispose();
  }
}

/** The compute-queue activities, each wrapped so its typed errors reach Temporal as named failures. */
export function createComputeActivities(deps: ComputeDeps) {
  return bindActivities(deps, {
    exportModel,
    evaluateExport,
    prepareData,
    trainModel,
    computeSoftTargets,
    ...softTargetBlockActivities,
    evaluateModel,
    evaluateEnsemble,
    ...modelCostActivities,
    ...teacherImportActivities,
    ...studentImportActivities,
  });
}

export type ComputeActivities = ReturnType<typeof createComputeActivities>;
