export type { ArtifactRef, ArtifactStore, PutOptions } from './artifact-store';
export { getJson, putJson } from './artifact-store';
export { ArtifactCorruptError, ArtifactNotFoundError, StoreUnavailableError } from './errors';
export { digestOf, sha256Hex, stableStringify } from './hash';
export { LocalArtifactStore } from './local-store';
export { MinioArtifactStore, isTransientStoreError } from './minio-store';
export type { MinioStoreOptions } from './minio-store';
export { decodeTensors, encodeTensors, TensorCodecError } from './tensor-codec';
export type { DType, RawTensor } from './tensor-codec';
