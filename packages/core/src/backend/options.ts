/**
 * Backend options: the names, the option object of {@link initBackend}, and their resolution against the
 * environment (`SEMEDIT_BACKEND`, `SEMEDIT_THREADS`, `SEMEDIT_HEAP_LIMIT`, `SEMEDIT_WEIGHTS`). Options win over the
 * environment.
 * @module
 */
import { availableParallelism } from 'node:os';
import { OptionError } from '../errors.js';
import { WEIGHT_STORAGES, type WeightStorage } from './weight-storage.js';

/**
 * Every backend name, in the order they are tried when none is named.
 *
 * @example
 * ```ts
 * BACKEND_NAMES.includes('wasm'); // true
 * ```
 */
export const BACKEND_NAMES = ['tensorflow', 'native', 'webgpu', 'wasm', 'cpu'] as const;

/**
 * A backend semedit knows how to load.
 *
 * @example
 * ```ts
 * const name: BackendName = 'wasm';
 * ```
 */
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * The most threads tfjs-backend-wasm's XNNPACK pool accepts (its C++ side caps the pool at 8).
 *
 * @example
 * ```ts
 * Math.min(os.availableParallelism(), WASM_MAX_THREADS); // the default thread count
 * ```
 */
export const WASM_MAX_THREADS = 8;

/**
 * Default wasm heap limit: 3.5 GiB (allocations past about that fail inside the 4 GiB wasm heap).
 *
 * @example
 * ```ts
 * setHeapLimit(DEFAULT_HEAP_LIMIT_BYTES); // back to the default
 * ```
 */
export const DEFAULT_HEAP_LIMIT_BYTES = 3.5 * 1024 ** 3;

/**
 * Largest wasm heap tfjs-backend-wasm can grow to (65535 pages of 64 KiB).
 *
 * @example
 * ```ts
 * setHeapLimit(WASM_HEAP_MAX_BYTES); // no margin: only the allocator's own failure stops allocations
 * ```
 */
export const WASM_HEAP_MAX_BYTES = 4294901760;

/**
 * Options of {@link initBackend}. Every field is optional; absent fields come from the environment, then from
 * the defaults.
 *
 * @example
 * ```ts
 * const opts: BackendOptions = { backend: 'wasm', threads: 2, heapLimitBytes: 2 * 1024 ** 3 };
 * ```
 */
export interface BackendOptions {
  /** Backend to use; absent: `SEMEDIT_BACKEND`, else the best one that loads. */
  backend?: BackendName;
  /** wasm threads (1..8); absent: `SEMEDIT_THREADS`, else `os.availableParallelism()` capped at 8. */
  threads?: number;
  /** Use the SIMD wasm builds (default true; `false` forces the plain single-threaded build). */
  simd?: boolean;
  /** wasm heap limit in bytes; absent: `SEMEDIT_HEAP_LIMIT`, else 3.5 GiB. */
  heapLimitBytes?: number;
  /** How models hold their weights: `fp32` (default), or half-width `fp16` / `bf16` (native only); absent: `SEMEDIT_WEIGHTS`. */
  weightStorage?: WeightStorage;
}

/**
 * {@link BackendOptions} after resolution against the environment.
 *
 * @example
 * ```ts
 * const r: ResolvedBackendOptions = resolveBackendOptions({ threads: 2 });
 * r.threadsExplicit; // true
 * ```
 */
export interface ResolvedBackendOptions {
  /** The named backend, or `undefined` to pick the best one that loads. */
  backend: BackendName | undefined;
  /** wasm threads wanted, 1..8. */
  threads: number;
  /** Whether `threads` was given explicitly (option or env) rather than defaulted. */
  threadsExplicit: boolean;
  /** Whether SIMD builds may be used. */
  simd: boolean;
  /** wasm heap limit in bytes, when the option or `SEMEDIT_HEAP_LIMIT` sets one (else the current limit stays). */
  heapLimitBytes: number | undefined;
  /** How models hold their weights. */
  weightStorage: WeightStorage;
  /** Remarks made while resolving (e.g. a thread count capped at 8). */
  warnings: string[];
}

/**
 * Resolves {@link BackendOptions} against an environment, validating every value.
 *
 * @param opts options given by the caller
 * @param env  environment to read `SEMEDIT_*` from (default `process.env`)
 * @example
 * ```ts
 * resolveBackendOptions({}, { SEMEDIT_BACKEND: 'cpu' }).backend; // 'cpu'
 * resolveBackendOptions({ backend: 'gpu' as never });             // throws OptionError
 * ```
 */
export function resolveBackendOptions(
  opts: BackendOptions = {},
  env: Record<string, string | undefined> = process.env,
): ResolvedBackendOptions {
  const warnings: string[] = [];
  const backend = resolveName(opts.backend, env['SEMEDIT_BACKEND']);
  const simd = opts.simd ?? true;
  if (typeof simd !== 'boolean') throw new OptionError('simd', `must be a boolean, got ${String(simd)}`);

  const envThreads = blankToUndefined(env['SEMEDIT_THREADS']);
  let threads: number;
  let threadsExplicit = true;
  if (opts.threads !== undefined) threads = checkThreads('threads', opts.threads);
  else if (envThreads !== undefined) threads = checkThreads('SEMEDIT_THREADS', Number(envThreads), envThreads);
  else {
    threads = availableParallelism();
    threadsExplicit = false;
  }
  if (threads > WASM_MAX_THREADS) {
    warnings.push(`${threads} threads asked; tfjs-backend-wasm's pool holds at most ${WASM_MAX_THREADS}`);
    threads = WASM_MAX_THREADS;
  }
  if (!simd && threads > 1) {
    if (threadsExplicit) throw new OptionError('threads', `${threads} threads need the SIMD build; simd is false`);
    threads = 1;
  }

  const envHeap = blankToUndefined(env['SEMEDIT_HEAP_LIMIT']);
  let heapLimitBytes: number | undefined;
  if (opts.heapLimitBytes !== undefined) heapLimitBytes = validateHeapLimit('heapLimitBytes', opts.heapLimitBytes);
  else if (envHeap !== undefined) heapLimitBytes = validateHeapLimit('SEMEDIT_HEAP_LIMIT', parseByteSize('SEMEDIT_HEAP_LIMIT', envHeap));

  const storageFrom = opts.weightStorage !== undefined ? 'weightStorage' : 'SEMEDIT_WEIGHTS';
  const storage = opts.weightStorage ?? blankToUndefined(env['SEMEDIT_WEIGHTS'])?.toLowerCase() ?? 'fp32';
  if (!(WEIGHT_STORAGES as readonly string[]).includes(storage)) {
    throw new OptionError(storageFrom, `unknown weight storage ${JSON.stringify(storage)}; expected one of ${WEIGHT_STORAGES.join(', ')}`);
  }

  return { backend, threads, threadsExplicit, simd, heapLimitBytes, weightStorage: storage as WeightStorage, warnings };
}

/**
 * Parses a byte size: a plain integer, or a number with a binary suffix (`K`, `M`, `G`, optionally `iB`/`B`).
 *
 * @param option name of the option or variable, for the error message
 * @param text   the text to parse, e.g. `3.5G`, `64MiB`, `1048576`
 * @example
 * ```ts
 * parseByteSize('SEMEDIT_HEAP_LIMIT', '64M'); // 67108864
 * ```
 */
export function parseByteSize(option: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(?:i?b)?|b)?\s*$/i.exec(text);
  if (!m || m[1] === undefined) {
    throw new OptionError(option, `"${text}" is not a byte size (examples: 3758096384, 3.5G, 512MiB)`);
  }
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Math.floor(Number(m[1]) * scale);
}

function resolveName(fromOpts: unknown, fromEnv: string | undefined): BackendName | undefined {
  if (fromOpts !== undefined) return checkName('backend', fromOpts);
  const env = blankToUndefined(fromEnv);
  if (env === undefined || env.toLowerCase() === 'auto') return undefined;
  return checkName('SEMEDIT_BACKEND', env.toLowerCase());
}

function checkName(option: string, value: unknown): BackendName {
  if (typeof value === 'string' && (BACKEND_NAMES as readonly string[]).includes(value)) return value as BackendName;
  throw new OptionError(option, `unknown backend ${JSON.stringify(value)}; expected one of ${BACKEND_NAMES.join(', ')}`);
}

function checkThreads(option: string, n: number, raw: unknown = n): number {
  if (!Number.isInteger(n) || n < 1) throw new OptionError(option, `must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Checks a heap limit: a finite byte count in 1..{@link WASM_HEAP_MAX_BYTES}; returns it floored.
 *
 * @param option name of the option, for the error message
 * @param n      the limit in bytes
 * @example
 * ```ts
 * validateHeapLimit('heapLimitBytes', 64 * 1024 ** 2); // 67108864
 * ```
 */
export function validateHeapLimit(option: string, n: number): number {
  if (!Number.isFinite(n) || n <= 0 || n > WASM_HEAP_MAX_BYTES) {
    throw new OptionError(option, `must be between 1 and ${WASM_HEAP_MAX_BYTES} bytes (the wasm heap maximum), got ${n}`);
  }
  return Math.floor(n);
}

function blankToUndefined(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}
