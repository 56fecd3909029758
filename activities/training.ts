/**
 * trainModel: one model trained durably (activities/durable-training.ts: heartbeats, checkpoints, resume, cancellation
 * between batches), from the data plan, its stored or online teachers, and the request's spec.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { tableModelIssues, viewIssues } from '../config/schemas';
import type { Dataset } from '../ml/datasets';
import { train } from '../ml/train';
import { rowShift, viewIndices } from '../ml/views';
import type { TrainRequest, TrainResult } from '../contracts/exchange';
import { at } from '../artifacts/data-plans';
import { modelDigest, partialEpoch } from '../artifacts/digests';
import { loadPlan, modelInputOf, publishModel } from '../artifacts/models';
import { onlineTeacher, studentSoftTargets } from '../artifacts/student-targets';
import { trainingData } from '../data/sources';
import type { ComputeDeps } from './compute-deps';
import { runDurableTraining } from './durable-training';
import { invalidInput } from './failures';
import { sizedNet } from '../artifacts/student-models';

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

export async function trainModel(deps: ComputeDeps, req: TrainRequest): Promise<TrainResult> {
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
  // The config's rules (config/schemas.ts viewIssues) for this one student: no jitter of its own, not online.
  const [issue] = viewIssues({
    data: { dataset: req.data.dataset },
    transfer: { kind: 'full', views: spec.count },
    teachers: {},
    student: { train: { jitter: req.train.jitter } },
    students: [{ online: Boolean(req.distill?.online) }],
  }).filter((i) => at('student.train.jitter')(i) || at('students.0.online')(i));
  if (issue) throw invalidInput(`${at('student.train.jitter')(issue) ? field : req.name}: ${issue.message}`);
  return { indices: viewIndices(transfer, spec.count), shift: rowShift(spec, transfer) };
}

function pick<T, K extends keyof T>(o: T, ...ks: K[]): Pick<T, K> {
  return Object.fromEntries(ks.map((k) => [k, o[k]])) as Pick<T, K>;
}
