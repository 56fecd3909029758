/**
 * TensorFlow's thread pools, chosen per machine before the library loads and recorded with the backend: intra-op
 * threads (how many split one op, a GEMM or a convolution) and inter-op threads (how many ops of a graph run side
 * by side). TensorFlow reads TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS once, for the eager context and
 * every session alike. Measured on compiled steps (bench/threads, docs/BENCHMARKS.md "Threads"): one intra-op
 * thread is 35-60 % slower on the paper's MLPs than one per core, and one inter-op thread against one per core
 * differs by no more than the noise (±5 %), so both are set to the core count. The operator's settings win.
 */
import os from 'node:os';

export interface ThreadChoice {
  intraOp: number;
  interOp: number;
  /** Who decided: the operator's environment, or chrysalis for this machine. */
  by: 'environment' | 'chrysalis';
  why: string;
}

const positive = (v: string | undefined): number | undefined => {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n > 0 ? n : undefined;
};

/** What {@link applyThreadChoice} will do with `cores` cores, given the environment `env`. */
export function threadChoice(env: NodeJS.ProcessEnv, cores: number): ThreadChoice {
  const intra = positive(env['TF_NUM_INTRAOP_THREADS']);
  const inter = positive(env['TF_NUM_INTEROP_THREADS']);
  if (intra !== undefined || inter !== undefined)
    return {
      intraOp: intra ?? cores,
      interOp: inter ?? cores,
      by: 'environment',
      why: `TF_NUM_INTRAOP_THREADS=${env['TF_NUM_INTRAOP_THREADS'] ?? ''} TF_NUM_INTEROP_THREADS=${env['TF_NUM_INTEROP_THREADS'] ?? ''}`,
    };
  return {
    intraOp: cores,
    interOp: cores,
    by: 'chrysalis',
    why: `one thread per core (${cores}) for each op and for ops side by side (bench/threads)`,
  };
}

/** Sets TensorFlow's thread counts where chrysalis decides; must run before the native library loads. */
export function applyThreadChoice(
  env: NodeJS.ProcessEnv = process.env,
  cores = os.availableParallelism(),
): ThreadChoice {
  const choice = threadChoice(env, cores);
  if (choice.by === 'chrysalis') {
    env['TF_NUM_INTRAOP_THREADS'] = String(choice.intraOp);
    env['TF_NUM_INTEROP_THREADS'] = String(choice.interOp);
  }
  return choice;
}
