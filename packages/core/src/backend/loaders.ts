/**
 * Loaders of the non-wasm backends. The optional packages (`@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`,
 * `@tensorflow/tfjs-backend-webgpu`, `webgpu`) are never dependencies: they are imported dynamically when
 * present, from this package or from the application (the current directory).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BackendUnavailableError } from './errors.js';

/**
 * What a loader set up.
 *
 * @example
 * ```ts
 * const loaded: LoadedBackend = await loadCpu(); // { threads: 1, simd: false, detail: 'tfjs-backend-cpu 4.22.0', … }
 * ```
 */
export interface LoadedBackend {
  /** CPU threads the backend computes with (1 for GPU backends: the host thread). */
  threads: number;
  /** Whether it runs SIMD code (wasm) or vectorized native code. */
  simd: boolean;
  /** One line describing it, e.g. `@tensorflow/tfjs-node 4.22.0`. */
  detail: string;
  /** Remarks (e.g. a software GPU adapter). */
  warnings: string[];
}

/**
 * Result of {@link importOptional}: the module, or why it could not be imported.
 *
 * @example
 * ```ts
 * const r: OptionalImport = await importOptional('webgpu');
 * ```
 */
export type OptionalImport = { module: Record<string, unknown>; error?: undefined } | { module?: undefined; error: string };

/**
 * Imports an optional package: first as seen from this package, then as seen from the current directory.
 *
 * @param spec package name, e.g. `@tensorflow/tfjs-node`
 * @example
 * ```ts
 * const r = await importOptional('@tensorflow/tfjs-node');
 * if (r.error) console.log(r.error); // 'not installed'
 * ```
 */
export async function importOptional(spec: string): Promise<OptionalImport> {
  try {
    return { module: (await import(spec)) as Record<string, unknown> };
  } catch (e) {
    if (!isNotFound(e, spec)) return { error: errorText(e) };
  }
  let resolved: string;
  try {
    resolved = createRequire(join(process.cwd(), 'package.json')).resolve(spec);
  } catch {
    return { error: 'not installed' };
  }
  try {
    return { module: (await import(pathToFileURL(resolved).href)) as Record<string, unknown> };
  } catch (e) {
    return { error: errorText(e) };
  }
}

/**
 * Loads `tensorflow` (libtensorflow through tfjs-node-gpu, then tfjs-node).
 *
 * @example
 * ```ts
 * await loadTensorflow(); // throws BackendUnavailableError when neither package is installed
 * ```
 */
export async function loadTensorflow(): Promise<LoadedBackend> {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const r = await importOptional(pkg);
    if (r.error !== undefined) {
      reasons.push(`${pkg}: ${r.error}`);
      continue;
    }
    if (!tf.findBackendFactory('tensorflow')) {
      reasons.push(`${pkg}: loaded but registered no "tensorflow" backend`);
      continue;
    }
    if (await tf.setBackend('tensorflow')) {
      const version = (r.module['version'] as Record<string, string> | undefined)?.['tfjs-node'] ?? '';
      return { threads: availableParallelism(), simd: true, detail: `${pkg} ${version}`.trim(), warnings: [] };
    }
    reasons.push(`${pkg}: the backend failed to initialize`);
  }
  throw new BackendUnavailableError('tensorflow', reasons.join('; '));
}

/** The part of `@semedit/native` the loader uses. */
interface NativeModule {
  registerNativeBackend(opts: { threads?: number }): { threads: number; detail: string };
}

/**
 * Loads `native`, semedit's CPU engine (`@semedit/native`: a tfjs backend over oneDNN). Threads: `threads` when
 * given, else the package's default (`SEMEDIT_THREADS`, else the physical cores).
 *
 * @param threads compute threads, when asked for explicitly
 * @throws BackendUnavailableError with the one-line reason when the package or its addon is missing
 * @example
 * ```ts
 * await loadNative(); // { threads: 2, simd: true, detail: '@semedit/native: oneDNN 2.6.3 (avx512_core_bf16), 2 threads', … }
 * ```
 */
export async function loadNative(threads?: number): Promise<LoadedBackend> {
  const r = await importOptional('@semedit/native');
  if (r.error !== undefined) throw new BackendUnavailableError('native', `@semedit/native: ${r.error}`);
  let info: { threads: number; detail: string };
  try {
    info = (r.module as unknown as NativeModule).registerNativeBackend(threads === undefined ? {} : { threads });
  } catch (e) {
    const err = e as { reason?: string; message?: string };
    throw new BackendUnavailableError('native', err.reason ?? err.message ?? String(e));
  }
  if (!(await tf.setBackend('native'))) throw new BackendUnavailableError('native', 'the backend failed to initialize');
  return { threads: info.threads, simd: true, detail: info.detail, warnings: [] };
}

/** The subset of the WebGPU API used to probe for an adapter. */
interface GpuLike {
  requestAdapter(): Promise<AdapterLike | null>;
}
interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: AdapterInfoLike;
  requestAdapterInfo?(): Promise<AdapterInfoLike>;
}
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * Loads `webgpu` (tfjs-backend-webgpu; in Node, WebGPU comes from the `webgpu` package, Dawn). When picking
 * automatically (`auto`), a software adapter (llvmpipe, SwiftShader, a fallback adapter) does not count.
 *
 * @param auto whether the backend is being picked automatically rather than named
 * @example
 * ```ts
 * await loadWebgpu(false); // uses any adapter, software included
 * ```
 */
export async function loadWebgpu(auto: boolean): Promise<LoadedBackend> {
  if (!isResolvable('@tensorflow/tfjs-backend-webgpu')) {
    throw new BackendUnavailableError('webgpu', '@tensorflow/tfjs-backend-webgpu: not installed');
  }
  const gpu = await ensureNavigatorGpu();
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new BackendUnavailableError('webgpu', 'no WebGPU adapter was found');
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
  const software =
    adapter.isFallbackAdapter === true || info.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|softpipe|software/i.test(name);
  if (software && auto) {
    throw new BackendUnavailableError('webgpu', `only a software adapter (${name}); name the backend "webgpu" to use it anyway`);
  }
  const r = await importOptional('@tensorflow/tfjs-backend-webgpu');
  if (r.error !== undefined) throw new BackendUnavailableError('webgpu', `@tensorflow/tfjs-backend-webgpu: ${r.error}`);
  if (!(await tf.setBackend('webgpu'))) throw new BackendUnavailableError('webgpu', `the backend failed to initialize on ${name}`);
  return { threads: 1, simd: false, detail: `tfjs-backend-webgpu on ${name}`, warnings: software ? [`software adapter: ${name}`] : [] };
}

/**
 * Loads the pure-JS `cpu` backend (always available).
 *
 * @example
 * ```ts
 * await loadCpu();
 * ```
 */
export async function loadCpu(): Promise<LoadedBackend> {
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError('cpu', 'the backend failed to initialize');
  return { threads: 1, simd: false, detail: `tfjs-backend-cpu ${tf.version_core}`, warnings: [] };
}

/** Returns `navigator.gpu`, installing Dawn's (the `webgpu` package) on `globalThis.navigator` in Node. */
async function ensureNavigatorGpu(): Promise<GpuLike> {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const dawn = await importOptional('webgpu');
  if (dawn.error !== undefined) {
    throw new BackendUnavailableError('webgpu', `no navigator.gpu, and the "webgpu" package (Dawn for Node): ${dawn.error}`);
  }
  const create = dawn.module['create'] as ((flags: string[]) => GpuLike) | undefined;
  if (typeof create !== 'function') throw new BackendUnavailableError('webgpu', 'the "webgpu" package has no create()');
  Object.assign(globalThis, (dawn.module['globals'] as object | undefined) ?? {});
  const gpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu }, configurable: true, writable: true });
  return gpu;
}

function isResolvable(spec: string): boolean {
  for (const base of [import.meta.url, join(process.cwd(), 'package.json')]) {
    try {
      createRequire(base).resolve(spec);
      return true;
    } catch {
      // try the next base
    }
  }
  return false;
}

function isNotFound(e: unknown, spec: string): boolean {
  const code = (e as { code?: unknown })?.code;
  const text = errorText(e);
  // Node's resolver sets a code; bundlers and vite's resolver say "Could not resolve" / "Failed to load url".
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Could not resolve|Failed to load url|Cannot find (module|package)/.test(text);
  return notFound && text.includes(spec);
}

function errorText(e: unknown): string {
  return (e as Error)?.message?.split('\n')[0] ?? String(e);
}
