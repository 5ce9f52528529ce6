/**
 * Multi-threaded tfjs-backend-wasm in Node. tfjs ships a threaded SIMD build but never uses it in Node; three
 * things stand in the way, and this shim takes each out without touching tfjs or any global:
 *
 * 1. tfjs's `init()` decides "no threads" when it sees Node (`WASM_HAS_MULTITHREAD_SUPPORT` is false there).
 *    We do not go through it: we instantiate the threaded Emscripten module ourselves (its factory is
 *    `wasm-out/tfjs-backend-wasm-threaded-simd.js`), attach the same C bridge `init()` would, and hand the module
 *    to tfjs's exported `BackendWasm` class, so every registered wasm kernel runs on it unchanged.
 * 2. tfjs hands Emscripten its pthread worker script (`wasmWorkerContents`) as a Blob URL and the main script as
 *    a Blob; `worker_threads` can load neither. The worker script already has a Node branch (it sets
 *    `globalThis.self`, routes `parentPort` messages to `onmessage`, and implements `importScripts` with `fs`);
 *    it only needs to be a file. We write it once to a per-user temp folder (content-addressed, verified before
 *    use) and return that path from `locateFile`; without a Blob, workers load the factory by its file path.
 * 3. The C++ side caps the XNNPACK pool at `emscripten_num_logical_cores() / 2` (1 on a 2-core machine). Through
 *    Emscripten's `instantiateWasm` hook we answer that import with twice the wanted thread count.
 *
 * Workers are `unref()`ed once the pool is up (they park in `Atomics.wait` between kernels), so the process
 * exits when the main thread is done. A worker that fails to start, an abort, or a timeout rejects; the caller
 * then falls back to the single-threaded SIMD build.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { attachTfjsBridge, captureProcessListeners, unwrapDispose, type EmscriptenModule } from './emscripten.js';

const require = createRequire(import.meta.url);

/** The bits of the WebAssembly JS API used here (the project's `lib` has no DOM types). */
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => unknown;
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: unknown; module: unknown }>;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * Default time allowed for the threaded module and its workers to come up.
 *
 * @example
 * ```ts
 * await instantiateThreadedWasm(2, THREADED_INIT_TIMEOUT_MS);
 * ```
 */
export const THREADED_INIT_TIMEOUT_MS = 30_000;

/**
 * Returns the folder of the installed `@tensorflow/tfjs-backend-wasm` package.
 *
 * @example
 * ```ts
 * wasmPackageDir(); // '/app/node_modules/@tensorflow/tfjs-backend-wasm'
 * ```
 */
export function wasmPackageDir(): string {
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/**
 * Writes Emscripten's pthread worker script of the installed tfjs-backend-wasm to a file (once; the name is
 * its content hash, and an existing file is used only if its content matches) and returns its path.
 *
 * @param pkgDir folder of `@tensorflow/tfjs-backend-wasm`
 * @example
 * ```ts
 * writePthreadWorker(wasmPackageDir()); // '/tmp/semedit-wasm-0/pthread-worker-3f1c….cjs'
 * ```
 */
export function writePthreadWorker(pkgDir: string): string {
  const mod = require(join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents?: unknown };
  if (typeof mod.wasmWorkerContents !== 'string') throw new Error('tfjs-backend-wasm has no wasmWorkerContents');
  // The contents sit in a template literal whose `\n` escapes became real newlines inside string literals;
  // escape them back (tfjs does the same before making its Blob).
  const body = mod.wasmWorkerContents.replace(/\n/g, '\\n');
  const source = `// Emscripten pthread worker of @tensorflow/tfjs-backend-wasm, written by @semedit/core.\n${body}\n`;
  new Script(source, { filename: 'pthread-worker.cjs' }); // throws on a syntax error, before any worker sees it
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `semedit-wasm-${process.getuid?.() ?? 'user'}`);
  const file = join(dir, `pthread-worker-${hash}.cjs`);
  if (existsSync(file) && readFileSync(file, 'utf8') === source) return file;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, source, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/**
 * Checks that this runtime can run wasm threads at all; returns the reason when it cannot.
 *
 * @example
 * ```ts
 * threadSupportProblem(); // undefined on Node 20
 * ```
 */
export function threadSupportProblem(): string | undefined {
  if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is not available';
  try {
    new WA.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return `shared WebAssembly.Memory is not supported (${(e as Error).message})`;
  }
  return undefined;
}

/**
 * Instantiates the threaded SIMD build of tfjs-backend-wasm with an XNNPACK pool of `threads` threads and
 * returns the Emscripten module, bridge attached, ready for `new BackendWasm(module)` (after
 * `setThreadsCount(threads)`).
 *
 * @param threads   pool size, 2..8
 * @param timeoutMs time allowed for the module and its workers to start
 * @example
 * ```ts
 * setThreadsCount(2);
 * const backend = new BackendWasm(await instantiateThreadedWasm(2) as never);
 * ```
 */
export async function instantiateThreadedWasm(threads: number, timeoutMs = THREADED_INIT_TIMEOUT_MS): Promise<EmscriptenModule> {
  const problem = threadSupportProblem();
  if (problem) throw new Error(problem);
  const pkgDir = wasmPackageDir();
  const workerFile = writePthreadWorker(pkgDir);
  const wasmFile = join(pkgDir, 'dist', 'tfjs-backend-wasm-threaded-simd.wasm');
  const binary = await readFile(wasmFile);
  const factory = require(join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js')) as (
    config: Record<string, unknown>,
  ) => Promise<EmscriptenModule>;

  let fail: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined); // a late failure (after init settled) must not become an unhandled rejection
  const gluedOnError = new Map<object, unknown>();
  const config: Record<string, unknown> = {
    locateFile: (path: string, prefix: string) =>
      path.endsWith('.worker.js') ? workerFile : path.endsWith('.wasm') ? wasmFile : prefix + path,
    instantiateWasm: (imports: { env: Record<string, unknown> }, receive: (instance: unknown, module: unknown) => void) => {
      imports.env['emscripten_num_logical_cores'] = () => 2 * threads;
      WA.instantiate(binary, imports).then(({ instance, module }) => {
        receive(instance, module); // hands the module to the 8 pre-spawned workers
        // Until the pool is up, a worker error rejects init instead of the glue's throw (an uncaught exception).
        const pthread = (config as unknown as EmscriptenModule).PThread;
        for (const w of pthread?.unusedWorkers ?? []) {
          gluedOnError.set(w, w.onerror);
          w.onerror = (e) => fail(new Error(`pthread worker failed to start: ${String((e as Error)?.message ?? e)}`));
        }
      }, (e: unknown) => fail(new Error(`wasm instantiation failed: ${String(e)}`)));
      return {};
    },
    onAbort: (what: unknown) => fail(new Error(`threaded wasm aborted: ${String(what)}`)),
  };

  const undoListeners = captureProcessListeners();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`threaded wasm did not start within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  let module: EmscriptenModule;
  try {
    module = await Promise.race([factory(config), failed, timeout]);
  } catch (e) {
    (config as unknown as EmscriptenModule).PThread?.terminateAllThreads();
    throw e;
  } finally {
    clearTimeout(timer);
    undoListeners();
  }
  for (const [w, onerror] of gluedOnError) (w as { onerror: unknown }).onerror = onerror;
  attachTfjsBridge(module);
  unwrapDispose(module);
  return module;
}

/**
 * Lets the process exit while the pool's workers live: unrefs every running pthread worker of a module.
 *
 * @param module a threaded module after `BackendWasm` created its pool
 * @example
 * ```ts
 * const backend = new BackendWasm(module as never);
 * unrefPoolWorkers(module);
 * ```
 */
export function unrefPoolWorkers(module: EmscriptenModule): void {
  for (const w of module.PThread?.runningWorkers ?? []) w.unref();
}
