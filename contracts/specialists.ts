/**
 * Specialists pipeline: the requests and results that travel through Temporal (small, claim-check refs only), and
 * into the specialists report.
 */
import type { ArtifactRef } from '../storage/artifact-store';
import type { TrainSpec } from '../config/schemas';
import type { CoverageRow, FiringRow, SubsetRow } from '../ml/specialists/combination-stats';
import type { DataPlanRef, ModelRef, SoftTargetsRef, TrainResult } from './exchange';
import type { SpecialistSampling } from '../ml/specialists';

export type { CoverageRow, FiringRow, SubsetRow } from '../ml/specialists/combination-stats';

export interface ClusterRequest {
  data: DataPlanRef;
  generalist: ModelRef;
  /** Number of clusters. */
  k: number;
  minSize: number;
  normalize: boolean;
  restarts: number;
  /** Whose predictions give the covariance. */
  on: 'validation' | 'train';
  seed: number;
}

export interface ClusterResult {
  /** Content digest of (generalist, examples, clustering parameters): names the stored clusters. */
  key: string;
  /** Disjoint subsets covering every class, each sorted, ordered by their smallest class. */
  subsets: number[][];
  /** `clusters/<key>/covariance.cht`: tensor `covariance`, C×C float32. */
  covariance: ArtifactRef;
  /** `clusters/<key>/clusters.json`: subsets with class names, parameters, provenance. */
  clusters: ArtifactRef;
  /** Examples whose predictions gave the covariance. */
  examples: number;
  /** True when these clusters were already stored (and were reused as they are). */
  cached: boolean;
}

export interface SpecialistRequest {
  /** Human label, e.g. "specialist-2"; also the name in progress signals. */
  name: string;
  data: DataPlanRef;
  generalist: ModelRef;
  subset: number[];
  train: TrainSpec;
  seed: number;
  /** Examples per epoch = round(sampleFactor × 2 × the training examples in the subset), half from the subset. */
  sampleFactor: number;
}

/** How a specialist's examples were drawn (ml/specialists' sampling, without the index list). */
export type SpecialistSamplingInfo = Omit<SpecialistSampling, 'indices'> & {
  /** Examples per epoch. */
  examples: number;
};

export interface SpecialistResult extends TrainResult {
  name: string;
  subset: number[];
  sampling: SpecialistSamplingInfo;
}

export interface SpecialistModel {
  name: string;
  model: ModelRef;
  subset: number[];
}

export interface CombineSpec {
  topN: number;
  maxIterations: number;
  tolerance: number;
}

export interface CombinationRequest {
  data: DataPlanRef;
  generalist: ModelRef;
  specialists: SpecialistModel[];
  combine: CombineSpec;
}

export interface ModelScore {
  errors: number;
  accuracy: number;
  perClassErrors: number[];
}

export interface CombinationEvaluation {
  /** Content digest of (generalist, specialists, combination options). */
  key: string;
  n: number;
  topN: number;
  generalist: ModelScore;
  combined: ModelScore;
  /** (combined − generalist) / generalist test errors: negative is better. */
  relativeErrorChange: number;
  byCoverage: CoverageRow[];
  perSubset: SubsetRow[];
  firing: FiringRow[];
  /** Most EM iterations any batch of the combination needed. */
  iterations: number;
  /** Seconds for the combination itself (after inference). */
  combineSeconds: number;
  /** Both confusion matrices and the rows above, in the store. */
  details: ArtifactRef;
}

export interface CombinedSoftTargets extends SoftTargetsRef {
  /** True when the same combination's soft targets for this data plan were already stored. */
  cached: boolean;
}

/** A combination to package for deployment (activities/specialists-export.ts), and the package stored. */
export interface ExportCombinationRequest {
  combination: CombinationRequest;
  /** Content digest of the combination (names the package directory). */
  key: string;
  classNames: string[];
  /** What the combination scored on the test set, recorded in the package. */
  evaluation: { dataset: string; testExamples: number; generalistErrors: number; combinedErrors: number };
}

export interface ExportedCombination {
  /** `exports/<key>`: the package directory. */
  dir: string;
  /** `exports/<key>/combination.json`. */
  manifest: string;
  files: string[];
  cached: boolean;
}
