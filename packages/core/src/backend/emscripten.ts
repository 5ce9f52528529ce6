/**
 * What we touch of tfjs-backend-wasm's Emscripten modules, and two hygiene fixes every wasm module gets:
 * - In Node, the Emscripten glue adds `uncaughtException`/`unhandledRejection` listeners that rethrow, and wraps
 *   `_dispose` so that disposing the backend removes *every* listener of those events (its filter is always
 *   true), including the host's (vitest, tsx). We remove the listeners it added and unwrap `_dispose`.
 * - tfjs's own bridge (`module.tfjs`) is rebuilt over the unwrapped exports.
 * @module
 */
import type { WasmHeapModule } from './heap-guard.js';

/**
 * A worker_threads Worker as the Emscripten glue holds it.
 *
 * @example
 * ```ts
 * module.PThread?.runningWorkers.forEach((w: GlueWorker) => w.unref());
 * ```
 */
export interface GlueWorker {
  /** Lets the process exit while the worker is alive. */
  unref(): void;
  /** Error handler the glue installs (it rethrows). */
  onerror: ((e: unknown) => void) | null;
}

/**
 * The bridge tfjs-backend-wasm's `BackendWasm` expects at `module.tfjs`.
 *
 * @example
 * ```ts
 * const threads = (module.tfjs as TfjsBridge).getThreadsCount();
 * ```
 */
export interface TfjsBridge {
  /** Initializes XNNPACK with the default pool. */
  init(): void;
  /** Initializes XNNPACK with a pool of `n` threads (capped by the C++ side). */
  initWithThreadsCount(n: number): void;
  /** Threads in XNNPACK's pool. */
  getThreadsCount(): number;
  /** Records tensor `id` of `size` elements at heap `offset`. */
  registerTensor(id: number, size: number, offset: number): void;
  /** Forgets tensor `id` (and the XNNPACK operators cached for it). */
  disposeData(id: number): void;
  /** Forgets every tensor. */
  dispose(): void;
}

/**
 * An Emscripten module of tfjs-backend-wasm (single-threaded or threaded build).
 *
 * @example
 * ```ts
 * const module = (tf.backend() as BackendWasm).wasm as unknown as EmscriptenModule;
 * ```
 */
export interface EmscriptenModule extends WasmHeapModule {
  /** Wraps an exported C function. */
  cwrap(name: string, ret: string | null, args: string[]): (...args: number[]) => unknown;
  /** Emscripten's pthread bookkeeping (threaded build only). */
  PThread?: {
    runningWorkers: GlueWorker[];
    unusedWorkers: GlueWorker[];
    terminateAllThreads(): void;
  };
  /** tfjs's bridge to the C API. */
  tfjs?: TfjsBridge;
  /** Exported `dispose` (wrapped by the glue's post-script). */
  _dispose?: () => void;
}

type Listener = (...args: unknown[]) => void;
const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * Records the process listeners of `uncaughtException`/`unhandledRejection`; the returned function removes
 * those added since (by the Emscripten glue).
 *
 * @example
 * ```ts
 * const undo = captureProcessListeners();
 * const module = await factory(config);
 * undo();
 * ```
 */
export function captureProcessListeners(): () => void {
  const listeners = (e: (typeof EVENTS)[number]) => process.listeners(e as 'uncaughtException') as Listener[];
  const before = new Map(EVENTS.map((e) => [e, new Set(listeners(e))]));
  return () => {
    for (const e of EVENTS) {
      const had = before.get(e);
      for (const l of listeners(e)) if (!had?.has(l)) process.removeListener(e, l);
    }
  };
}

/**
 * Makes disposal harmless to the host: points `_dispose` (and `tfjs.dispose` if present) at the raw export,
 * skipping the glue's wrapper that strips every process error listener.
 *
 * @param module a tfjs-backend-wasm Emscripten module
 * @example
 * ```ts
 * unwrapDispose(backend.wasm);
 * ```
 */
export function unwrapDispose(module: EmscriptenModule): void {
  const raw = module.asm?.['dispose'];
  if (typeof raw !== 'function') return;
  const dispose = raw as () => void;
  module._dispose = dispose;
  if (module.tfjs) module.tfjs.dispose = dispose;
}

/**
 * Builds `module.tfjs`, the same C bridge tfjs-backend-wasm's `init()` attaches, for a module we instantiated.
 *
 * @param module a freshly instantiated tfjs-backend-wasm Emscripten module
 * @example
 * ```ts
 * attachTfjsBridge(module);
 * new BackendWasm(module);
 * ```
 */
export function attachTfjsBridge(module: EmscriptenModule): TfjsBridge {
  const c = (name: string, ret: string | null, args: string[]) => module.cwrap(name, ret, args);
  const bridge: TfjsBridge = {
    init: c('init', null, []) as TfjsBridge['init'],
    initWithThreadsCount: c('init_with_threads_count', null, ['number']) as TfjsBridge['initWithThreadsCount'],
    getThreadsCount: c('get_threads_count', 'number', []) as TfjsBridge['getThreadsCount'],
    registerTensor: c('register_tensor', null, ['number', 'number', 'number']) as TfjsBridge['registerTensor'],
    disposeData: c('dispose_data', null, ['number']) as TfjsBridge['disposeData'],
    dispose: c('dispose', null, []) as TfjsBridge['dispose'],
  };
  module.tfjs = bridge;
  return bridge;
}
