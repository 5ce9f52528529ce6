/**
 * Backend selection. {@link initBackend} loads the named backend (option or `SEMEDIT_BACKEND`) or, with none
 * named, the first that loads in the order tensorflow (tfjs-node-gpu, tfjs-node), native, webgpu (a
 * real adapter only), wasm, cpu; {@link backendInfo} reports the choice.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import { BackendUnavailableError, type BackendAttempt } from './errors.js';
import { ensureGradients } from './gradients.js';
import { getHeapLimit, setHeapLimit } from './heap-guard.js';
import { loadCpu, loadNative, loadTensorflow, loadWebgpu, type LoadedBackend } from './loaders.js';
import { BACKEND_NAMES, resolveBackendOptions, type BackendName, type BackendOptions, type ResolvedBackendOptions } from './options.js';
import { loadWasm } from './wasm.js';
import { canStoreHalf, setWeightStorage, type WeightStorage } from './weight-storage.js';

/**
 * The backend in use and how it was chosen.
 *
 * @example
 * ```ts
 * const info: BackendInfo = await initBackend();
 * // { name: 'wasm', threads: 2, simd: true, detail: 'tfjs-backend-wasm 4.22.0, threaded-simd build, 2 threads',
 * //   tried: [{ name: 'tensorflow', error: '…not installed' }, …, { name: 'wasm' }], heapLimitBytes: 3758096384, warnings: [] }
 * ```
 */
export interface BackendInfo {
  /** The tfjs backend name now active. */
  name: BackendName;
  /** CPU threads it computes with (wasm: XNNPACK's pool; GPU backends: 1). */
  threads: number;
  /** Whether it runs SIMD code. */
  simd: boolean;
  /** Every backend attempted, in order; the chosen one last, without `error`. */
  tried: BackendAttempt[];
  /** One line describing it, e.g. `tfjs-backend-wasm 4.22.0, threaded-simd build, 2 threads`. */
  detail: string;
  /** wasm heap limit in bytes (wasm only). */
  heapLimitBytes?: number;
  /** How models built from now on hold their weights (`fp32`, or half-width `fp16` / `bf16` on native). */
  weightStorage: WeightStorage;
  /** Fallbacks and remarks (a thread count capped, the thread shim unavailable, ...). */
  warnings: string[];
}

const LOADERS: Record<BackendName, (r: ResolvedBackendOptions, auto: boolean) => Promise<LoadedBackend>> = {
  tensorflow: () => loadTensorflow(),
  native: (r) => loadNative(r.threadsExplicit ? r.threads : undefined),
  webgpu: (_r, auto) => loadWebgpu(auto),
  wasm: (r) => loadWasm({ threads: r.threads, simd: r.simd }),
  cpu: () => loadCpu(),
};

let current: { info: BackendInfo; key: string } | undefined;
let queue: Promise<unknown> = Promise.resolve();

/**
 * Selects, loads and activates a tfjs backend. Calls are serialized; a call with the same (resolved) options as
 * the last one returns at once. Environment: `SEMEDIT_BACKEND`, `SEMEDIT_THREADS`, `SEMEDIT_HEAP_LIMIT`,
 * `SEMEDIT_WEIGHTS` (options win).
 *
 * @param opts `backend`, wasm `threads` (default: every core, at most 8), `simd`, `heapLimitBytes`,
 *   `weightStorage` (models built afterwards hold their weights so; half-width needs native)
 * @returns what was chosen and what was tried
 * @throws OptionError on an unknown backend or a bad value, or half-width weight storage on a backend without
 *   it; BackendUnavailableError when a named backend cannot load
 * @example
 * ```ts
 * const info = await initBackend();
 * console.log(info.name, info.threads, info.simd); // wasm 2 true
 * await initBackend({ backend: 'cpu' });
 * ```
 */
export function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const run = queue.then(() => select(opts));
  queue = run.catch(() => undefined);
  return run;
}

/**
 * Returns what the last successful {@link initBackend} chose, or `undefined` before the first.
 *
 * @example
 * ```ts
 * backendInfo()?.name; // 'wasm'
 * ```
 */
export function backendInfo(): BackendInfo | undefined {
  if (!current) return undefined;
  const { info } = current;
  return info.name === 'wasm' ? { ...info, heapLimitBytes: getHeapLimit() } : { ...info };
}

async function select(opts: BackendOptions): Promise<BackendInfo> {
  const r = resolveBackendOptions(opts);
  if (!(await ensureGradients())) r.warnings.push('gradients unavailable: tfjs-core gradient configs could not be loaded');
  if (r.heapLimitBytes !== undefined) setHeapLimit(r.heapLimitBytes);
  const key = JSON.stringify([r.backend ?? 'auto', r.threads, r.simd, r.weightStorage]);
  if (current && current.key === key && tf.getBackend() === current.info.name) return backendInfo()!;

  const tried: BackendAttempt[] = [];
  for (const name of r.backend ? [r.backend] : BACKEND_NAMES) {
    let loaded: LoadedBackend;
    try {
      loaded = await LOADERS[name](r, r.backend === undefined);
    } catch (e) {
      if (e instanceof OptionError) throw e;
      const reason = e instanceof BackendUnavailableError ? e.reason : ((e as Error)?.message ?? String(e));
      if (r.backend) throw e instanceof BackendUnavailableError ? e : new BackendUnavailableError(name, reason);
      tried.push({ name, error: reason });
      continue;
    }
    tried.push({ name });
    const skipped = tried.find((t) => t.name === 'native' && t.error !== undefined);
    if (r.weightStorage !== 'fp32' && !canStoreHalf(tf.backend())) {
      throw new OptionError('weightStorage', `${r.weightStorage} weight storage needs the native backend; ${name} holds float32 only` +
        (skipped ? ` (native unavailable: ${skipped.error})` : ''));
    }
    setWeightStorage(r.weightStorage);
    if (!r.backend && skipped) r.warnings.push(`native unavailable: ${skipped.error}; using ${name}`);
    const info: BackendInfo = {
      name,
      threads: loaded.threads,
      simd: loaded.simd,
      tried,
      detail: loaded.detail,
      weightStorage: r.weightStorage,
      warnings: [...r.warnings, ...loaded.warnings],
    };
    current = { info, key };
    return backendInfo()!;
  }
  throw new BackendUnavailableError('any', tried.map((t) => `${t.name}: ${t.error}`).join('; '));
}
