export { classCovariance, clusterClasses } from './clustering';
export type { ClusterOptions } from './clustering';
export { combinationObjective, combine, combineInSlices } from './combine';
export { combinationStatistics } from './combination-stats';
export type { CombinationOutcome, CombinationStatistics, CoverageRow, FiringRow, SubsetRow } from './combination-stats';
export type { Combination, CombineOptions, SpecialistProbs } from './combine';
export {
  applyDustbinCorrection,
  buildSpecialistFrom,
  dustbinCorrection,
  outputParamNames,
  sampleSpecialistIndices,
  specialistTargets,
  trainSpecialist,
} from './specialist';
export type { SamplingOptions, SpecialistData, SpecialistRun, SpecialistSampling } from './specialist';
