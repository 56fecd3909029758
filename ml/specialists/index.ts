export { classCovariance, clusterClasses } from './clustering';
export type { ClusterOptions } from './clustering';
export { activeSpecialists, combinationObjective, combine } from './combine';
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
