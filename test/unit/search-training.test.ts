import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { before, test } from 'node:test';
import { createComputeActivities } from '../../activities/compute';
import { readManifest } from '../../artifacts/models';
import { modelDigest } from '../../artifacts/digests';
import type { DataPlanRef, TrainRequest } from '../../contracts/exchange';
import { createLogger } from '../../config';
import { trainSpecSchema } from '../../config/schemas';
import { keys } from '../../common/store-keys';
import { initBackend } from '../../ml';
import type { BackendInfo } from '../../ml/backend';
import { LocalArtifactStore, decodeTensors } from '../../storage';

let backend: BackendInfo;
before(async () => {
  backend = await initBackend({ requested: 'auto' });
});

const quiet = createLogger({
  name: 'test',
  format: 'json',
  level: 'warn',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

/** Compute activities on a fresh local store, checkpointing whenever due (no minimum interval). */
function computeOn() {
  const store = new LocalArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'chrysalis-partial-')));
  return { store, compute: createComputeActivities({ store, logger: quiet, backend, checkpointMinSeconds: 3600 }) };
}

// A cosine schedule: a partial run that scheduled its learning rate over its own epochs would differ.
const recipe = trainSpecSchema.parse({ epochs: 3, batchSize: 64, lrSchedule: { kind: 'cosine', minFactor: 0.1 } });

async function request(compute: ReturnType<typeof computeOn>['compute']): Promise<TrainRequest> {
  const data: DataPlanRef = await compute.prepareData({
    data: { dataset: 'mnist', validationSize: 100, trainLimit: 600 },
    transfer: { kind: 'full' },
    seed: 5,
  });
  return {
    name: 'm',
    role: 'model',
    data,
    split: 'train',
    spec: { kind: 'mlp', hidden: [24] },
    train: recipe,
    seed: 9,
  };
}

async function weightsOf(store: LocalArtifactStore, manifestKey: string): Promise<Record<string, number[]>> {
  const m = await readManifest(store, manifestKey);
  const t = decodeTensors(await store.get(m.weights));
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v.data as Float32Array)]));
}

test('stopAfterEpoch: partial runs continued rung by rung give bit-identical weights to one straight run', async () => {
  const straight = computeOn();
  const req = await request(straight.compute);
  const full = await straight.compute.trainModel(req);
  assert.equal(full.epochsTrained, 3);

  const rungs = computeOn();
  const rreq = { ...(await request(rungs.compute)), name: 'm-rungs' };
  const first = await rungs.compute.trainModel({ ...rreq, stopAfterEpoch: 1 });
  assert.equal(first.resumedFromEpoch, 0);
  assert.equal(first.epochsTrained, 1);
  assert.equal(first.history.length, 1);
  assert.equal(first.model.manifest.key, `${keys.partialModelDir(modelDigest(rreq), 1)}/manifest.json`);
  assert.notEqual(first.model.digest, full.model.digest, 'a partial model has a digest of its own');
  assert.ok(
    (await rungs.store.list(`${keys.checkpointDir(modelDigest(rreq))}/`)).includes(
      keys.checkpoint(modelDigest(rreq), 1),
    ),
    'the stopped epoch is checkpointed even when no checkpoint is due',
  );

  const again = await rungs.compute.trainModel({ ...rreq, stopAfterEpoch: 1 });
  assert.equal(again.cached, true, 'the same stop is reused, not retrained');
  assert.equal(again.model.manifest.key, first.model.manifest.key);

  const second = await rungs.compute.trainModel({ ...rreq, stopAfterEpoch: 2 });
  assert.equal(second.resumedFromEpoch, 1);
  assert.equal(second.epochsTrained, 1);
  const last = await rungs.compute.trainModel({ ...rreq, stopAfterEpoch: 3 });
  assert.equal(last.resumedFromEpoch, 2);
  assert.equal(last.model.digest, full.model.digest, 'the last rung publishes the recipe itself');
  assert.deepEqual(
    last.history.map((h) => h.learningRate),
    full.history.map((h) => h.learningRate),
  );
  assert.deepEqual(
    await weightsOf(rungs.store, last.model.manifest.key),
    await weightsOf(straight.store, full.model.manifest.key),
  );
  assert.notDeepEqual(
    await weightsOf(rungs.store, first.model.manifest.key),
    await weightsOf(rungs.store, last.model.manifest.key),
  );
  assert.deepEqual(
    await rungs.store.list(`${keys.checkpointDir(modelDigest(rreq))}/`),
    [],
    'checkpoints dropped once finished',
  );
});

test('a partial run never resumes from a later checkpoint of its recipe', async () => {
  const { store, compute } = computeOn();
  const req = await request(compute);
  await compute.trainModel({ ...req, stopAfterEpoch: 2 });
  // Epoch 1 was not checkpointed (none due), epoch 2 was: stopping after 1 must start over, not load epoch 2.
  const one = await compute.trainModel({ ...req, stopAfterEpoch: 1 });
  assert.equal(one.resumedFromEpoch, 0);
  assert.equal(one.history.length, 1);
  const straight = computeOn();
  const ref = await straight.compute.trainModel({ ...(await request(straight.compute)), stopAfterEpoch: 1 });
  assert.deepEqual(
    await weightsOf(store, one.model.manifest.key),
    await weightsOf(straight.store, ref.model.manifest.key),
  );
});
