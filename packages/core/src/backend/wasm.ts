/**
 * Loading the wasm backend: the threaded SIMD build through our Node shim when more than one thread is wanted,
 * else tfjs's own single-threaded SIMD (or plain) build; then the heap guard and the missing gradient kernels.
 * The backend is registered under tfjs's name `wasm`, so every wasm kernel applies to it.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, setThreadsCount, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { OptionError } from '../errors.js';
import { captureProcessListeners, unwrapDispose, type EmscriptenModule } from './emscripten.js';
import { installHeapGuard } from './heap-guard.js';
import { registerWasmGradientKernels } from './kernels/index.js';
import { instantiateThreadedWasm, unrefPoolWorkers } from './wasm-threads.js';

/** tfjs's priority for `wasm` (above cpu). */
const WASM_PRIORITY = 2;

/** tfjs-backend-wasm's own factory, registered when the package was imported (before any replacement). */
const stockFactory = tf.findBackendFactory('wasm');

/**
 * Which wasm build runs.
 *
 * @example
 * ```ts
 * const build: WasmBuild = (await loadWasm({ threads: 2, simd: true })).build; // 'threaded-simd'
 * ```
 */
export type WasmBuild = 'threaded-simd' | 'simd' | 'plain';

/**
 * What {@link loadWasm} set up.
 *
 * @example
 * ```ts
 * const r: WasmLoadResult = await loadWasm({ threads: 1, simd: true }); // { threads: 1, build: 'simd', … }
 * ```
 */
export interface WasmLoadResult {
  /** XNNPACK threads of the running build. */
  threads: number;
  /** Whether the running build uses SIMD. */
  simd: boolean;
  /** The build. */
  build: WasmBuild;
  /** One line describing it, e.g. `tfjs-backend-wasm 4.22.0, threaded-simd build, 2 threads`. */
  detail: string;
  /** Fallbacks taken (e.g. the thread shim failed). */
  warnings: string[];
}

let active: { backend: BackendWasm; key: string; result: WasmLoadResult } | undefined;

/**
 * Creates (or reuses) the wasm backend with the given threads and SIMD setting and makes it tfjs's backend.
 * Changing the thread count or build re-creates the backend, which is refused while tensors live on it. When
 * the threaded build cannot start, the single-threaded SIMD build runs and a warning says why.
 *
 * @param opts `threads` wanted (1..8) and whether SIMD builds may be used
 * @param deps the threaded-module factory (replaceable to exercise the fallback)
 * @example
 * ```ts
 * const r = await loadWasm({ threads: 2, simd: true });
 * r.build; // 'threaded-simd'
 * ```
 */
export async function loadWasm(
  opts: { threads: number; simd: boolean },
  deps: { instantiateThreaded: (threads: number) => Promise<EmscriptenModule> } = { instantiateThreaded: instantiateThreadedWasm },
): Promise<WasmLoadResult> {
  const warnings: string[] = [];
  let simd = opts.simd;
  if (simd && !(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) {
    warnings.push('this runtime has no wasm SIMD; using the plain single-threaded build');
    simd = false;
  }
  const threads = simd ? opts.threads : 1;
  const key = `${threads}/${simd}`;
  if (active && active.key === key && initializedWasm() === active.backend) {
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
    return active.result;
  }
  retireWasmBackend(key);

  let backend: BackendWasm | undefined;
  let build: WasmBuild = simd ? 'simd' : 'plain';
  if (threads > 1) {
    let threaded: EmscriptenModule | undefined;
    try {
      threaded = await deps.instantiateThreaded(threads);
      setThreadsCount(threads);
      backend = new BackendWasm(threaded as unknown as ConstructorParameters<typeof BackendWasm>[0]);
      unrefPoolWorkers(threaded);
      build = 'threaded-simd';
    } catch (e) {
      threaded?.PThread?.terminateAllThreads();
      warnings.push(`wasm threads unavailable (${(e as Error).message}); using the single-threaded SIMD build`);
    }
  }
  backend ??= await createStockBackend(simd);
  const module = backend.wasm as unknown as EmscriptenModule;
  installHeapGuard(module);

  tf.registerBackend('wasm', () => backend, WASM_PRIORITY);
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed after the module loaded');
  registerWasmGradientKernels();
  const actualThreads = module.tfjs?.getThreadsCount() ?? 1;
  if (build === 'threaded-simd' && actualThreads !== threads) {
    warnings.push(`asked for ${threads} wasm threads, XNNPACK runs ${actualThreads}`);
  }
  const result: WasmLoadResult = {
    threads: actualThreads,
    simd,
    build,
    detail: `tfjs-backend-wasm ${version_wasm}, ${build} build, ${actualThreads} thread${actualThreads === 1 ? '' : 's'}`,
    warnings,
  };
  // Keyed by what runs: after a fallback, asking again for threads retries the threaded build.
  active = { backend, key: build === 'threaded-simd' ? key : `1/${simd}`, result };
  return result;
}

/** Builds tfjs's single-threaded backend (SIMD or plain) through tfjs's own factory. */
async function createStockBackend(simd: boolean): Promise<BackendWasm> {
  if (!stockFactory) throw new Error('tfjs-backend-wasm registered no wasm backend factory');
  // tfjs reads these flags to choose the binary; threads stay off here (tfjs's threaded path cannot load in Node).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tf.env().set('WASM_HAS_SIMD_SUPPORT', simd);
  setThreadsCount(1);
  const undoListeners = captureProcessListeners();
  try {
    const backend = (await stockFactory()) as BackendWasm;
    unwrapDispose(backend.wasm as unknown as EmscriptenModule);
    return backend;
  } catch (e) {
    // tfjs rejects with a plain `{ message }` object.
    throw new Error(`tfjs-backend-wasm failed to initialize: ${String((e as { message?: unknown })?.message ?? e)}`);
  } finally {
    undoListeners();
  }
}

/**
 * The initialized `wasm` backend, if any. (`tf.findBackend` would *start* the registered factory as a side
 * effect, and a stock backend finishing later would replace ours in the registry.)
 */
function initializedWasm(): tf.KernelBackend | undefined {
  return tf.engine().registry['wasm'];
}

/** Removes the current `wasm` backend (or the stock factory) so a new one can be registered. */
function retireWasmBackend(nextKey: string): void {
  const live = initializedWasm();
  if (live) {
    const held = live.numDataIds();
    if (held > 0) {
      throw new OptionError(
        'threads',
        `switching the wasm backend to ${nextKey.replace('/', ' threads, simd ')} re-creates it, but ${held} ` +
          'tensors still live on it; dispose them first',
      );
    }
  }
  if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm');
  active = undefined;
}
