/** Stored models run on dataset images: the inputs of clustering and of the generalist + specialists combination. */
import type { InputShape } from '../common/input-shape';
import type { ArtifactStore } from '../storage/artifact-store';
import type { Dataset } from '../ml/datasets';
import { predictProbabilities } from '../ml/evaluate';
import type { SpecialistProbs } from '../ml/specialists';
import { loadModelNet } from './models';
import type { CombinationRequest } from '../contracts/specialists';
import type { ModelRef } from '../contracts/exchange';
import type { Pixels } from '../ml/datasets';

/** A stored model's class probabilities on the images at `indices`. */
export async function probabilitiesOf(
  store: ArtifactStore,
  model: ModelRef,
  images: Pixels,
  side: InputShape,
  indices: Int32Array,
): Promise<Float32Array> {
  const net = await loadModelNet(store, model);
  try {
    return await predictProbabilities(net, images, side, indices);
  } finally {
    net.dispose();
  }
}

/** Generalist and specialist probabilities on some images: the combination's inputs. */
export async function combinationInputs(
  store: ArtifactStore,
  req: CombinationRequest,
  ds: Dataset,
  images: Pixels,
  indices: Int32Array,
  /** Called after each specialist's inference: the activity's heartbeat. */
  beat: (details: unknown) => void = () => {},
): Promise<{ pg: Float32Array; specs: SpecialistProbs[] }> {
  const side = ds.shape;
  const pg = await probabilitiesOf(store, req.generalist, images, side, indices);
  const specs: SpecialistProbs[] = [];
  for (const s of req.specialists) {
    specs.push({ subset: s.subset, probs: await probabilitiesOf(store, s.model, images, side, indices) });
    beat({ stage: 'inference', specialist: s.name });
  }
  return { pg, specs };
}
