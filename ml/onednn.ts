/**
 * Whether native TensorFlow computes with oneDNN, chosen per machine before the library loads. TensorFlow's
 * Linux build turns oneDNN on by itself only on CPUs with neural-network features (AVX512_VNNI, AVX512_BF16,
 * AVX_VNNI, AMX: `IsMklEnabled` in tensorflow/core/util/port.cc); elsewhere, e.g. an AVX2-only AMD EPYC, every
 * op runs TensorFlow's own Eigen kernels, which the PyPI build compiles for AVX only (no AVX2, no FMA: the
 * "rebuild TensorFlow with the appropriate compiler flags" line at start-up). oneDNN picks its kernels at run
 * time for the CPU at hand, so on an AVX2 machine we turn it on. `TF_ENABLE_ONEDNN_OPTS` set by the
 * operator always wins.
 */
import { readFileSync } from 'node:fs';

/** The CPU features for which TensorFlow enables oneDNN without being asked. */
export const ONEDNN_BY_DEFAULT = ['avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile', 'amx_int8', 'amx_bf16'];

export interface OneDnnChoice {
  on: boolean;
  /** Who decided: the operator's TF_ENABLE_ONEDNN_OPTS, TensorFlow's own default, or chrysalis for this CPU. */
  by: 'environment' | 'tensorflow' | 'chrysalis';
  why: string;
}

/** The CPU's flags from /proc/cpuinfo (empty where there is none: then TensorFlow's default stands). */
export function cpuFlags(): string[] {
  try {
    return (/^flags\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(/\s+/);
  } catch {
    return [];
  }
}

/** What {@link applyOneDnnChoice} will do on a CPU with `flags`, given the environment `env`. */
export function oneDnnChoice(env: NodeJS.ProcessEnv, flags: readonly string[]): OneDnnChoice {
  const set = env['TF_ENABLE_ONEDNN_OPTS'];
  if (set !== undefined && set !== '')
    return { on: /^(1|true)$/i.test(set), by: 'environment', why: `TF_ENABLE_ONEDNN_OPTS=${set}` };
  const feature = ONEDNN_BY_DEFAULT.find((f) => flags.includes(f));
  if (feature) return { on: true, by: 'tensorflow', why: `TensorFlow's default on a CPU with ${feature}` };
  if (flags.includes('avx2') && flags.includes('fma'))
    return {
      on: true,
      by: 'chrysalis',
      why: 'AVX2+FMA without VNNI/AMX: TensorFlow would leave oneDNN off and run its AVX-only Eigen kernels',
    };
  return { on: false, by: 'tensorflow', why: "TensorFlow's default on a CPU without AVX2+FMA" };
}

/** Sets TF_ENABLE_ONEDNN_OPTS where chrysalis decides; must run before the native library loads. */
export function applyOneDnnChoice(env: NodeJS.ProcessEnv = process.env, flags = cpuFlags()): OneDnnChoice {
  const choice = oneDnnChoice(env, flags);
  if (choice.by === 'chrysalis') env['TF_ENABLE_ONEDNN_OPTS'] = choice.on ? '1' : '0';
  return choice;
}
