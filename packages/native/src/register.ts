/**
 * Registration of the `native` backend and of its kernels with tfjs.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadAddon } from './addon.js';
import { NATIVE, NativeBackend } from './backend.js';
import { call, NativeUnavailableError } from './errors.js';
import { ATTENTION_KERNELS } from './kernels/attention.js';
import { CONV_KERNELS } from './kernels/conv.js';
import { ELEMENTWISE_KERNELS } from './kernels/elementwise.js';
import { LAYOUT_KERNELS } from './kernels/layout.js';
import { MATMUL_KERNELS } from './kernels/matmul.js';
import { NORM_KERNELS } from './kernels/norm.js';
import { REDUCE_KERNELS } from './kernels/reduce.js';

/**
 * What {@link registerNativeBackend} set up.
 *
 * @example
 * ```ts
 * const info: NativeInfo = registerNativeBackend();
 * // { onednn: '2.6.3', isa: 'avx512_core_bf16', threads: 2, nativeKernels: [...], jsKernels: [...], detail: '...' }
 * ```
 */
export interface NativeInfo {
  /** oneDNN version. */
  onednn: string;
  /** The instruction set oneDNN dispatches to. */
  isa: string;
  /** Compute threads. */
  threads: number;
  /** Compute precision of convolutions and matmuls (`fp32`, or the opt-in `bf16`). */
  precision: 'fp32' | 'bf16';
  /** Whether 3x3 stride-1 convolutions may run as Winograd. */
  winograd: boolean;
  /** Kernels the addon runs (float32; other dtypes and layouts inside them use tfjs-backend-cpu's code). */
  nativeKernels: string[];
  /** Kernels registered from tfjs-backend-cpu's JavaScript code. */
  jsKernels: string[];
  /** One line, e.g. `@semedit/native: oneDNN 2.6.3 (avx512_core_bf16), 2 threads`. */
  detail: string;
}

let registered: { kernels: string[]; js: string[] } | undefined;

/**
 * Loads the addon, sets its thread count and registers the `native` backend (once; later calls update the thread
 * count). Does not make it the active backend: `tf.setBackend('native')` (or semedit's `initBackend`) does.
 *
 * @param opts `threads`: compute threads (default: `SEMEDIT_THREADS`, else `OMP_NUM_THREADS`, else the physical
 *   cores); `precision`: `fp32` (default) or `bf16` (default: `SEMEDIT_PRECISION`): convolutions and matmuls take
 *   bf16 inputs and weights with fp32 accumulation and outputs, on CPUs with AVX512-BF16 or AMX; `winograd`: let
 *   3x3 stride-1 convolutions run as Winograd F(4x4, 3x3) where oneDNN has that kernel (default: on unless
 *   `SEMEDIT_WINOGRAD=0`; 1.5 to 2.5x faster on SD's shapes, about 4e-6 of the output's range from the direct kernel)
 * @throws NativeUnavailableError when the addon is not built or does not load; NativeKernelError
 *   (`E_NATIVE_UNSUPPORTED`, `E_NATIVE_ARG`) for a precision this CPU or the addon does not have
 * @example
 * ```ts
 * registerNativeBackend({ threads: 2 });
 * await tf.setBackend('native');
 * ```
 */
export function registerNativeBackend(opts: { threads?: number; precision?: 'fp32' | 'bf16'; winograd?: boolean } = {}): NativeInfo {
  const load = loadAddon();
  if ('reason' in load) throw new NativeUnavailableError(load.reason);
  const { addon } = load;
  addon.setThreads(opts.threads ?? defaultThreads());
  const precision = opts.precision ?? (process.env['SEMEDIT_PRECISION'] || 'fp32');
  call('setPrecision', () => addon.setPrecision(precision as 'fp32' | 'bf16'));
  addon.setWinograd(opts.winograd ?? process.env['SEMEDIT_WINOGRAD'] !== '0');
  if (!registered) {
    const kernels = [...CONV_KERNELS, ...MATMUL_KERNELS, ...ELEMENTWISE_KERNELS, ...LAYOUT_KERNELS, ...REDUCE_KERNELS, ...ATTENTION_KERNELS, ...NORM_KERNELS];
    const own = new Set(kernels.map((k) => k.kernelName));
    const js: string[] = [];
    for (const k of kernels) tf.registerKernel(k);
    for (const k of tf.getKernelsForBackend('cpu')) {
      if (own.has(k.kernelName)) continue;
      tf.registerKernel({ ...k, backendName: NATIVE });
      js.push(k.kernelName);
    }
    tf.registerBackend(NATIVE, () => {
      const b = new NativeBackend(addon);
      b.precision = addon.info().precision;
      return b;
    }, 0);
    registered = { kernels: [...own].sort(), js: js.sort() };
  }
  const i = addon.info();
  const live = tf.engine().registry[NATIVE] as NativeBackend | undefined; // already created: follow the new precision
  if (live) live.precision = i.precision;
  return {
    onednn: i.onednn,
    isa: i.isa,
    threads: i.threads,
    precision: i.precision,
    winograd: i.winograd,
    nativeKernels: registered.kernels,
    jsKernels: registered.js,
    detail: `@semedit/native: oneDNN ${i.onednn} (${i.isa}), ${i.threads} thread${i.threads === 1 ? '' : 's'}${i.precision === 'bf16' ? ', bf16 compute' : ''}${i.winograd ? '' : ', no Winograd'}`,
  };
}

/**
 * The default thread count: `SEMEDIT_THREADS` when set, else OpenMP's `OMP_NUM_THREADS` when set, else the number
 * of physical cores.
 *
 * @example
 * ```ts
 * defaultThreads(); // 2
 * ```
 */
export function defaultThreads(): number {
  for (const name of ['SEMEDIT_THREADS', 'OMP_NUM_THREADS']) {
    const env = Number(process.env[name] || NaN);
    if (Number.isInteger(env) && env > 0) return env;
  }
  return physicalCores();
}

/**
 * Physical cores (distinct core ids per package in /proc/cpuinfo), or the logical count where that is unknown.
 *
 * @example
 * ```ts
 * physicalCores(); // 2
 * ```
 */
export function physicalCores(): number {
  return physical ?? (physical = readPhysicalCores());
}
let physical: number | undefined;

function readPhysicalCores(): number {
  const logical = availableParallelism();
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const ids = new Set<string>();
    for (const block of text.split(/\n\n+/)) {
      const pkg = /physical id\s*:\s*(\d+)/.exec(block)?.[1], core = /core id\s*:\s*(\d+)/.exec(block)?.[1];
      if (pkg !== undefined && core !== undefined) ids.add(`${pkg}:${core}`);
    }
    return ids.size > 0 ? ids.size : logical;
  } catch {
    return logical;
  }
}
