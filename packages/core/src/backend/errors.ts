/**
 * Typed errors of the backend layer: a named backend that cannot load, and a wasm allocation refused by the
 * heap guard.
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * One backend that was attempted, and why it was not used (no `error` when it was the one chosen).
 *
 * @example
 * ```ts
 * const skipped: BackendAttempt = { name: 'tensorflow', error: '@tensorflow/tfjs-node: not installed' };
 * ```
 */
export interface BackendAttempt {
  /** Backend name, e.g. `tensorflow` or `wasm`. */
  name: string;
  /** Why it could not be used; absent for the backend that was selected. */
  error?: string;
}

/**
 * A backend that was asked for by name (option or `SEMEDIT_BACKEND`) could not be loaded.
 *
 * @example
 * ```ts
 * try { await initBackend({ backend: 'tensorflow' }); }
 * catch (e) { if (e instanceof BackendUnavailableError) console.log(e.backend, e.reason); }
 * // tensorflow "@tensorflow/tfjs-node-gpu: not installed; @tensorflow/tfjs-node: not installed"
 * ```
 */
export class BackendUnavailableError extends SemeditError {
  /**
   * @param backend the backend that was asked for
   * @param reason  why it could not be loaded (every package or probe that was tried)
   */
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super('E_BACKEND_UNAVAILABLE', `backend "${backend}" is not available: ${reason}`);
  }
}

/**
 * Why the heap guard refused an allocation: the configured limit, or an allocator that could not grow the heap.
 *
 * @example
 * ```ts
 * if (err instanceof HeapLimitError && err.kind === 'exhausted') console.log('the 4 GiB heap is full');
 * ```
 */
export type HeapLimitKind = 'limit' | 'exhausted';

/**
 * A wasm allocation was refused: it would pass the configured heap limit (`kind: 'limit'`), or the wasm allocator
 * could not grow the heap at all (`kind: 'exhausted'`, the case stock tfjs ignores and which corrupts the heap).
 *
 * @example
 * ```ts
 * try { tf.zeros([1024, 1024, 1024]); }
 * catch (e) { if (e instanceof HeapLimitError) console.log(e.requestedBytes, e.freeBytes, e.limitBytes); }
 * ```
 */
export class HeapLimitError extends SemeditError {
  /** Bytes the refused allocation asked for. */
  readonly requestedBytes: number;
  /** Bytes still free under the limit when it was refused. */
  readonly freeBytes: number;
  /** The heap limit in force, in bytes. */
  readonly limitBytes: number;
  /** Whether the limit refused it or the allocator itself failed. */
  readonly kind: HeapLimitKind;
  /**
   * @param info `requestedBytes`, `freeBytes` and `limitBytes` of the refused allocation, and its `kind`
   */
  constructor(info: { requestedBytes: number; freeBytes: number; limitBytes: number; kind: HeapLimitKind }) {
    const { requestedBytes, freeBytes, limitBytes, kind } = info;
    const head =
      kind === 'limit'
        ? `wasm heap limit reached: an allocation of ${fmtBytes(requestedBytes)} was refused`
        : `wasm heap exhausted: the allocator could not provide ${fmtBytes(requestedBytes)} (the 4 GiB heap is full or fragmented)`;
    super(
      'E_HEAP',
      `${head}; ${fmtBytes(freeBytes)} free of the ${fmtBytes(limitBytes)} limit. Dispose tensors, reduce the ` +
        'working size, or change the limit with setHeapLimit() / SEMEDIT_HEAP_LIMIT (the wasm heap cannot pass 4 GiB)',
    );
    this.requestedBytes = requestedBytes;
    this.freeBytes = freeBytes;
    this.limitBytes = limitBytes;
    this.kind = kind;
  }
}

/**
 * Formats a byte count exactly plus a binary-unit approximation, e.g. `104857600 bytes (100.0 MiB)`.
 *
 * @param n number of bytes
 * @example
 * ```ts
 * fmtBytes(1536); // '1536 bytes (1.5 KiB)'
 * ```
 */
export function fmtBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n;
  let unit = '';
  for (const u of units) {
    if (Math.abs(v) < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit ? `${n} bytes (${v.toFixed(1)} ${unit})` : `${n} bytes`;
}
