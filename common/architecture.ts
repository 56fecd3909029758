/** How a model's architecture reads in the Temporal UI and in reports. Sandbox-safe plain functions. */

/** A model spec as these labels see it (config/schemas.ts studentModelSpecSchema), as plain data. */
export type ArchitectureSpec =
  | { kind: 'mlp'; hidden: number[] }
  | { kind: 'cnn'; filters: number[]; dense: number }
  | { kind: 'layers'; topology: string; sha256?: string | undefined };

/**
 * "MLP 64×32", "CNN 8-16/64", or for a topology of your own "layers model.json 1a2b3c4d" (the first 8 hex digits
 * of its sha256; "not fetched yet" before the run has read it).
 */
export function describeArchitecture(spec: ArchitectureSpec): string {
  if (spec.kind === 'mlp') return `MLP ${spec.hidden.join('×')}`;
  if (spec.kind === 'cnn') return `CNN ${spec.filters.join('-')}/${spec.dense}`;
  return `layers model.json ${spec.sha256 ? spec.sha256.slice(0, 8) : '(not fetched yet)'}`;
}
