/**
 * The requests that name teachers, imported ones included: defined in contracts/exchange.ts beside ImportedTeacherRef,
 * re-exported here for the workflows that import them by this path.
 */
export type {
  EnsembleRequest,
  EvaluateRequest,
  ScoredModel,
  SoftTargetsRequest,
  TeacherMember,
} from '../contracts/exchange';
