/**
 * What a distilled student learns from, loaded from the store: its online teachers (run on each batch) or the stored
 * soft targets at its temperature. trainModel (activities/training.ts) calls these.
 */
import * as tf from '@tensorflow/tfjs';
import type { ArtifactStore } from '../storage/artifact-store';
import type { TrainRequest } from '../contracts/exchange';
import { netInference } from '../ml/compiled-inference';
import { ensembleAt } from '../ml/losses';
import type { StoredSoftTargets } from '../ml/soft-targets';
import type { SoftTargetReader } from '../ml/train';
import { loadModelNet } from './models';
import { softTargetPartsReader, wholeSoftTargets } from './soft-target-parts';

/**
 * The teachers of an online student, loaded once: their ensemble's probabilities at the student's T on each
 * batch as the student sees it (dropout off).
 */
export async function onlineTeacher(
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
export async function studentSoftTargets(
  store: ArtifactStore,
  distill: NonNullable<TrainRequest['distill']>,
  streamed: boolean,
): Promise<StoredSoftTargets | SoftTargetReader> {
  const { softTargets: ref, temperature, ensemble } = distill;
  if (streamed && ref.parts) return softTargetPartsReader(store, ref, temperature, ensemble);
  return wholeSoftTargets(store, ref, temperature, ensemble);
}
