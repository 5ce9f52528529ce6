/**
 * `@semedit/core/backend`: picks and loads the tfjs backend (tensorflow, native, webgpu, wasm, cpu), runs wasm
 * multi-threaded in Node, adds the wasm kernels gradients need, and guards the 4 GiB wasm heap.
 *
 * @example
 * ```ts
 * import { initBackend } from '@semedit/core/backend';
 * const info = await initBackend(); // { name: 'wasm', threads: 2, simd: true, tried: [...], ... }
 * ```
 * @module
 */
export { initBackend, backendInfo, type BackendInfo } from './init.js';
export {
  BACKEND_NAMES,
  DEFAULT_HEAP_LIMIT_BYTES,
  WASM_HEAP_MAX_BYTES,
  WASM_MAX_THREADS,
  parseByteSize,
  resolveBackendOptions,
  type BackendName,
  type BackendOptions,
  type ResolvedBackendOptions,
} from './options.js';
export { BackendUnavailableError, HeapLimitError, type BackendAttempt, type HeapLimitKind } from './errors.js';
export { getHeapLimit, setHeapLimit, wasmHeapStats, type WasmHeapStats } from './heap-guard.js';
export { registerWasmGradientKernels, WASM_GRADIENT_KERNELS } from './kernels/index.js';
export { ensureGradients } from './gradients.js';
export { WEIGHT_STORAGES, canStoreHalf, getWeightStorage, setWeightStorage, storeWeights, type WeightStorage } from './weight-storage.js';
