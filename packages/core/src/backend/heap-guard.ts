/**
 * Heap guard for the wasm backend. The wasm heap is one 4 GiB space; when it cannot grow, the allocator returns
 * 0 and tfjs-backend-wasm writes the tensor at address 0 anyway, silently corrupting the heap. The guard wraps the
 * module's `_malloc`/`_free` (which every tensor upload and every kernel output goes through), counts the bytes
 * of live allocations, and refuses with a {@link HeapLimitError} an allocation that would pass the limit or that
 * the allocator could not satisfy.
 *
 * Bytes allocated inside the C++ code (XNNPACK's packed weights and workspaces) do not pass through `_malloc`
 * from JS and are not counted; the heap size when the guard is installed is counted as a fixed baseline, and
 * the null-pointer check still catches an exhausted heap.
 * @module
 */
import { HeapLimitError } from './errors.js';
import { DEFAULT_HEAP_LIMIT_BYTES, validateHeapLimit } from './options.js';

/**
 * The parts of an Emscripten module of tfjs-backend-wasm the guard uses.
 *
 * @example
 * ```ts
 * const module = (tf.backend() as BackendWasm).wasm as unknown as WasmHeapModule;
 * ```
 */
export interface WasmHeapModule {
  /** Allocates `size` bytes on the wasm heap; returns the offset (0 on failure). */
  _malloc(size: number): number;
  /** Frees an allocation made by `_malloc`. */
  _free(ptr: number): void;
  /** View of the whole heap. */
  HEAPU8: Uint8Array;
  /** Raw wasm exports (`malloc`, `free`, ...). */
  asm?: Record<string, unknown>;
}

/**
 * A snapshot of the guarded wasm heap.
 *
 * @example
 * ```ts
 * const { trackedBytes, freeBytes }: WasmHeapStats = wasmHeapStats()!;
 * ```
 */
export interface WasmHeapStats {
  /** The limit in force, in bytes. */
  limitBytes: number;
  /** Bytes of live allocations made through `_malloc` since the guard was installed (tensor data). */
  trackedBytes: number;
  /** Heap size when the guard was installed (static data, stack, runtime), counted as used. */
  baselineBytes: number;
  /** Current size of the wasm memory (it grows, never shrinks). */
  heapBytes: number;
  /** `limitBytes - baselineBytes - trackedBytes`, floored at 0. */
  freeBytes: number;
}

interface GuardState {
  module: WasmHeapModule;
  sizes: Map<number, number>;
  tracked: number;
  baseline: number;
}

let limitBytes = DEFAULT_HEAP_LIMIT_BYTES;
let current: GuardState | undefined;
const guarded = new WeakSet<object>();

/**
 * Sets the wasm heap limit: allocations that would take the guarded heap past it throw {@link HeapLimitError}.
 * Applies at once to the current wasm backend and to any created later.
 *
 * @param bytes the limit in bytes, 1..4294901760 (default 3.5 GiB)
 * @example
 * ```ts
 * setHeapLimit(64 * 1024 ** 2);
 * tf.zeros([32 * 1024 * 1024]); // 128 MiB: throws HeapLimitError
 * ```
 */
export function setHeapLimit(bytes: number): void {
  limitBytes = validateHeapLimit('heapLimitBytes', bytes);
}

/**
 * Returns the wasm heap limit in bytes.
 *
 * @example
 * ```ts
 * getHeapLimit(); // 3758096384
 * ```
 */
export function getHeapLimit(): number {
  return limitBytes;
}

/**
 * Returns the state of the guarded wasm heap, or `undefined` when no wasm backend has been guarded yet.
 *
 * @example
 * ```ts
 * const s = wasmHeapStats();
 * console.log(s?.trackedBytes, s?.freeBytes);
 * ```
 */
export function wasmHeapStats(): WasmHeapStats | undefined {
  const st = current;
  if (!st) return undefined;
  return {
    limitBytes,
    trackedBytes: st.tracked,
    baselineBytes: st.baseline,
    heapBytes: st.module.HEAPU8.buffer.byteLength,
    freeBytes: Math.max(0, limitBytes - st.baseline - st.tracked),
  };
}

/**
 * Wraps a tfjs-backend-wasm module's `_malloc`/`_free` with the heap guard (once per module).
 *
 * @param module the Emscripten module of a `BackendWasm` (`backend.wasm`)
 * @example
 * ```ts
 * installHeapGuard((tf.backend() as BackendWasm).wasm);
 * ```
 */
export function installHeapGuard(module: WasmHeapModule): void {
  if (guarded.has(module)) return;
  // The module's `_malloc` may still be the glue's lazy stub: wrap the raw exports instead.
  const rawMalloc = module.asm?.['malloc'];
  const rawFree = module.asm?.['free'];
  if (typeof rawMalloc !== 'function' || typeof rawFree !== 'function') {
    throw new Error('heap guard: this tfjs-backend-wasm module has no raw malloc/free exports');
  }
  const malloc = rawMalloc as (size: number) => number;
  const free = rawFree as (ptr: number) => void;
  const st: GuardState = { module, sizes: new Map(), tracked: 0, baseline: module.HEAPU8.buffer.byteLength };

  const guardedMalloc = (size: number): number => {
    const freeBytes = limitBytes - st.baseline - st.tracked;
    if (size > freeBytes) {
      throw new HeapLimitError({ requestedBytes: size, freeBytes: Math.max(0, freeBytes), limitBytes, kind: 'limit' });
    }
    const ptr = malloc(size) >>> 0;
    if (ptr === 0 && size > 0) {
      throw new HeapLimitError({ requestedBytes: size, freeBytes: Math.max(0, freeBytes), limitBytes, kind: 'exhausted' });
    }
    st.sizes.set(ptr, size);
    st.tracked += size;
    return ptr;
  };
  const guardedFree = (ptr: number): void => {
    const p = ptr >>> 0;
    const size = st.sizes.get(p);
    if (size !== undefined) {
      st.sizes.delete(p);
      st.tracked -= size;
    }
    free(ptr);
  };
  // The glue's internal lazy stubs assign `Module._malloc = asm.malloc` on their first call, which would drop
  // the guard: the properties ignore assignments.
  const pin = (key: '_malloc' | '_free', fn: unknown) =>
    Object.defineProperty(module, key, { get: () => fn, set: () => undefined, configurable: true, enumerable: true });
  pin('_malloc', guardedMalloc);
  pin('_free', guardedFree);
  guarded.add(module);
  current = st;
}
