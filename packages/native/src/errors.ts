/**
 * Errors of the native engine.
 * @module
 */

/**
 * A kernel refused its input (shape mismatch, unsupported dtype, a oneDNN error). `code` is the addon's code
 * (`E_NATIVE_SHAPE`, `E_NATIVE_DTYPE`, `E_NATIVE_ARG`, `E_NATIVE_DNNL`, `E_NATIVE_OOM`); `kernel` the tfjs kernel.
 *
 * @example
 * ```ts
 * try { tf.matMul(a, b); } catch (e) { if (e instanceof NativeKernelError) console.log(e.kernel, e.code); }
 * ```
 */
export class NativeKernelError extends Error {
  override name = 'NativeKernelError';
  constructor(
    readonly kernel: string,
    readonly code: string,
    message: string,
  ) {
    super(`[${code}] ${kernel}: ${message}`);
  }
}

/**
 * The native backend cannot be used here; `reason` says why in one line.
 *
 * @example
 * ```ts
 * try { registerNativeBackend(); } catch (e) { if (e instanceof NativeUnavailableError) console.log(e.reason); }
 * ```
 */
export class NativeUnavailableError extends Error {
  override name = 'NativeUnavailableError';
  constructor(readonly reason: string) {
    super(`[E_NATIVE_UNAVAILABLE] the native backend is unavailable: ${reason}`);
  }
}

/**
 * Calls the addon and turns its errors into {@link NativeKernelError}s naming the tfjs kernel.
 *
 * @example
 * ```ts
 * call('Softmax', () => addon.softmax(x, rows, cols, y));
 * ```
 */
export function call(kernel: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    throw new NativeKernelError(kernel, err.code ?? 'E_NATIVE', (err.message ?? String(e)).replace(/^\[native [^\]]*\] /, ''));
  }
}
