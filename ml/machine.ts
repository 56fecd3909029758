/** The machine a speed was measured on, from the OS: speeds mean nothing without it. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { MachineInfo } from '../contracts/vocabulary';

/** The SIMD flags that decide a CPU's matmul speed. */
const SIMD_FLAGS = /^(avx2|avx512f|avx512_bf16|avx512_vnni|amx\w*|fma)$/;

export function machineInfo(): MachineInfo {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: os.cpus() names the model, the flags stay unknown
  }
  const flags = (/^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '').split(/\s+/).filter((f) => SIMD_FLAGS.test(f));
  return {
    cpu: (/^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown').trim(),
    cores: os.availableParallelism(),
    simd: [...new Set(flags)].sort(),
    node: process.versions.node,
    tfjs: tf.version.tfjs,
  };
}

/** "Intel Xeon …, 2 cores, avx2 avx512f fma, Node 20.20.2, tfjs 4.22.0": the line beside every figure. */
export function describeMachine(m: MachineInfo): string {
  const simd = m.simd.length > 0 ? m.simd.join(' ') : 'SIMD flags unknown';
  return `${m.cpu}, ${m.cores} cores, ${simd}, Node ${m.node}, tfjs ${m.tfjs}`;
}
