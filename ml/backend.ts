/**
 * Compute backend selection, in one place. Native TensorFlow (tfjs-node, or tfjs-node-gpu on GPU
 * workers) is the compute path; WASM is a fallback used only when native cannot load, and then it
 * is loud: a WARN at start, and `fallback` is recorded so every run report repeats the warning.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type * as TfWasm from '@tensorflow/tfjs-backend-wasm';
import { applyOneDnnChoice } from './onednn';
import type { OneDnnChoice } from './onednn';
import { applyThreadChoice } from './threads';
import type { ThreadChoice } from './threads';
import type { Device, TfjsBackend } from '../contracts/vocabulary';

export type RequestedBackend = 'auto' | TfjsBackend;

export interface BackendInfo {
  /** The tfjs backend actually in use. */
  backend: TfjsBackend;
  device: Device;
  /** The npm package that provided it. */
  package: string;
  tfjsVersion: string;
  /** Version of the native TensorFlow library (native backend only). */
  nativeVersion?: string;
  /** Intra-op threads the backend computes with. */
  threads: number;
  /** Native only: TensorFlow's intra- and inter-op threads, and who chose them (ml/threads.ts). */
  threadChoice?: ThreadChoice;
  /** True when native was wanted but could not load. */
  fallback: boolean;
  fallbackReason?: string;
  /** Set when CHRYSALIS_DEVICE=gpu found no GPU and ran on the CPU by choice (CHRYSALIS_GPU_FALLBACK=cpu). */
  gpuFallback?: string;
  /** Whether native TensorFlow computes with oneDNN, and who decided (ml/onednn.ts). */
  onednn?: OneDnnChoice;
}

export interface BackendOptions {
  /** @default 'auto' (native, else WASM with a warning) */
  requested?: RequestedBackend;
  /** @default 'cpu' */
  device?: Device;
  /** Where the WARN line goes. */
  warn?: (msg: string, meta: Record<string, unknown>) => void;
  /** Loads the native package; injectable so tests can simulate a host without it. */
  loadNative?: (pkg: string) => unknown;
  /**
   * With device 'gpu' and no GPU visible: refuse to start, or run on the CPU package with a loud warning
   * (recorded as a fallback, so every report repeats it). TensorFlow itself would quietly place every op
   * on the CPU. @default 'refuse'
   */
  gpuFallback?: 'refuse' | 'cpu';
  /** Why no GPU is visible, or undefined when one is; injectable for tests. @default {@link gpuProblem} */
  probeGpu?: () => string | undefined;
}

/**
 * Why a GPU compute worker would see no GPU: CUDA_VISIBLE_DEVICES hides them all, or the NVIDIA driver
 * exposes no device (/dev/nvidia0…). Undefined when one is visible.
 */
export function gpuProblem(env: NodeJS.ProcessEnv = process.env, devices = listDevDir()): string | undefined {
  const visible = env['CUDA_VISIBLE_DEVICES'];
  if (visible !== undefined && (visible.trim() === '' || visible.trim() === '-1'))
    return `CUDA_VISIBLE_DEVICES=${JSON.stringify(visible)} hides every GPU`;
  if (!devices.some((d) => /^nvidia\d+$/.test(d))) return 'no NVIDIA GPU device (/dev/nvidia0, …) on this host';
  return undefined;
}

function listDevDir(): string[] {
  try {
    return readdirSync('/dev');
  } catch {
    return [];
  }
}

export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailable';
}

let current: BackendInfo | undefined;

/** The backend chosen by {@link initBackend}, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

async function useWasm(device: Device, fallbackReason?: string): Promise<BackendInfo> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof TfWasm;
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(`${dir}${path.sep}`);
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailableError('the WASM backend failed to initialise');
  await tf.ready();
  return {
    backend: 'wasm',
    device,
    package: '@tensorflow/tfjs-backend-wasm',
    tfjsVersion: tf.version.tfjs,
    threads: 1,
    fallback: fallbackReason !== undefined,
    ...(fallbackReason !== undefined ? { fallbackReason } : {}),
  };
}

/**
 * Selects and initialises the backend once per process. Subsequent calls return the first result.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  if (current) return current;
  const requested = opts.requested ?? 'auto';
  const noGpu =
    opts.device === 'gpu' && requested !== 'cpu' && requested !== 'wasm' ? (opts.probeGpu ?? gpuProblem)() : undefined;
  if (noGpu && (opts.gpuFallback ?? 'refuse') === 'refuse')
    throw new BackendUnavailableError(
      `CHRYSALIS_DEVICE=gpu but no GPU is visible: ${noGpu}. Start this worker on a GPU host, ` +
        'or set CHRYSALIS_GPU_FALLBACK=cpu to run it on the CPU (slowly, and every report will say so).',
    );
  if (noGpu)
    (opts.warn ?? ((m) => process.emitWarning(m)))(
      `NO GPU VISIBLE: CHRYSALIS_DEVICE=gpu falls back to the CPU build (CHRYSALIS_GPU_FALLBACK=cpu): ${noGpu}`,
      { reason: noGpu },
    );
  const device = noGpu ? 'cpu' : (opts.device ?? 'cpu');
  const pkg = device === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = opts.loadNative ?? ((p: string) => require(p) as unknown);

  if (requested === 'cpu') {
    await tf.setBackend('cpu');
    current = {
      backend: 'cpu',
      device,
      package: '@tensorflow/tfjs-backend-cpu',
      tfjsVersion: tf.version.tfjs,
      threads: 1,
      fallback: false,
    };
    return current;
  }
  if (requested === 'wasm') {
    current = await useWasm(device);
    return current;
  }
  // TF's C++ start-up banners (oneDNN, CPU features) go to stderr unless told otherwise.
  process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '1';
  // TensorFlow reads these once, when the library loads.
  const onednn = applyOneDnnChoice();
  const threads = applyThreadChoice();
  try {
    const node = load(pkg) as { version?: Record<string, string> };
    if (!(await tf.setBackend('tensorflow')))
      throw new Error(`${pkg} loaded but the 'tensorflow' backend did not initialise`);
    await tf.ready();
    const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
    current = {
      backend: 'tensorflow',
      device,
      package: pkg,
      tfjsVersion: tf.version.tfjs,
      ...(binding?.TF_Version
        ? { nativeVersion: binding.TF_Version }
        : node.version?.['tfjs-node']
          ? { nativeVersion: `tfjs-node ${node.version['tfjs-node']}` }
          : {}),
      threads: threads.intraOp,
      threadChoice: threads,
      fallback: false,
      ...(noGpu ? { gpuFallback: noGpu } : {}),
      onednn,
    };
    return current;
  } catch (err) {
    const reason = `${pkg} could not load: ${(err as Error).message.split('\n')[0]}`;
    if (requested === 'tensorflow')
      throw new BackendUnavailableError(`native TensorFlow backend requested but ${reason}. Run \`npm run setup\`.`);
    (opts.warn ?? ((m) => process.emitWarning(m)))(
      'NATIVE TENSORFLOW UNAVAILABLE: falling back to the WASM backend (much slower). ' +
        'Run `npm run setup` to build the native addon.',
      { reason },
    );
    current = await useWasm(device, reason);
    return current;
  }
}

/** Test hook: forget the selection so a test can select again in the same process. */
export function resetBackendForTests(): void {
  current = undefined;
}
