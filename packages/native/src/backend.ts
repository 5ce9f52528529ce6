/**
 * The `native` tfjs backend: tensor storage and bookkeeping are MathBackendCPU's (data in off-heap ArrayBuffers,
 * no 4 GiB ceiling), and the compute-heavy kernels run in the oneDNN addon. Every other kernel of tfjs-backend-cpu
 * is registered for `native` too, under its own name, so that the set of kernels is explicit: a kernel neither
 * provides is not registered, and tfjs fails loudly on it.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Addon, HalfBits, HalfFormat } from './addon.js';
import { call, NativeKernelError } from './errors.js';

/** The backend name under which tfjs knows the engine. */
export const NATIVE = 'native';

/**
 * A MathBackendCPU whose heavy kernels call the addon. Constructed by `registerNativeBackend`.
 *
 * @example
 * ```ts
 * const b = tf.backend() as NativeBackend; // after initBackend({ backend: 'native' })
 * b.addon.info().onednn; // '2.6.3'
 * ```
 */
export class NativeBackend extends MathBackendCPU {
  /** The addon's compute precision, as last set by `registerNativeBackend` (kernels read it, not the addon). */
  precision: 'fp32' | 'bf16' = 'fp32';

  constructor(readonly addon: Addon) {
    super();
    // MathBackendCPU prints a "use tfjs-node" hint on first use; this backend is the native one.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** Float32 data of a tensor held here, without a copy. */
  f32(t: tf.TensorInfo): Float32Array {
    const v = this.data.get(t.dataId).values;
    // tfjs-backend-cpu's Cast from int32 shares the int32 data; such a tensor is read through a float32 copy.
    return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  }

  /** Bool data of a tensor held here (tfjs-backend-cpu keeps bool tensors as Uint8Array), without a copy. */
  u8(t: tf.TensorInfo): Uint8Array {
    const v = this.data.get(t.dataId).values;
    return v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>);
  }

  private readonly halves = new Map<object, HalfBits>();

  /**
   * Keeps a float32 tensor's data in half-width storage (`bf16` or `fp16` bits), halving its memory. Readers see
   * float32 values: `dataSync()` and every kernel get a widened copy that lives for the call, while convolutions
   * and matmuls read the bits themselves (widened per call inside the addon). Values are rounded to nearest even;
   * fp16 overflows to ±inf past 65504. Returns the bytes freed (0 when the data are already half-width).
   *
   * With `release`, the caller promises that nothing else holds the float32 array (nobody has read the tensor's
   * data): when the array is also one this backend allocated for a kernel's output, its memory is freed at once
   * instead of at the garbage collector's next pass (loading a model converts thousands of tensors in a row).
   *
   * @throws NativeKernelError `E_NATIVE_DTYPE` for a tensor that is not float32
   * @example
   * ```ts
   * const w = tf.randomNormal([320, 320]);
   * (tf.backend() as NativeBackend).storeHalf(w, 'bf16'); // 204800
   * ```
   */
  storeHalf(t: tf.TensorInfo, format: HalfFormat, opts: { release?: boolean } = {}): number {
    if (t.dtype !== 'float32') throw new NativeKernelError('storeHalf', 'E_NATIVE_DTYPE', `a ${t.dtype} tensor ${JSON.stringify(t.shape)} has no half-width storage`);
    if (this.halves.has(t.dataId)) return 0;
    const entry = this.data.get(t.dataId);
    const values = this.f32(t);
    const bits = new Uint16Array(values.length);
    call('toHalf', () => this.addon.toHalf(values, format, bits));
    const id = this.packIds.get(t.dataId);
    if (id !== undefined) this.addon.release(id); // a kept float32 layout would undo the saving
    this.packIds.delete(t.dataId);
    this.halves.set(t.dataId, { bits, format });
    const widen = (): Float32Array => {
      const out = new Float32Array(bits.length);
      call('fromHalf', () => this.addon.fromHalf(bits, format, out));
      return out;
    };
    Object.defineProperty(entry, 'values', {
      configurable: true,
      enumerable: true,
      get: widen,
      set: (v: unknown) => {
        this.halves.delete(t.dataId);
        Object.defineProperty(entry, 'values', { value: v, writable: true, configurable: true, enumerable: true });
      },
    });
    const freed = values.byteLength - bits.byteLength;
    if (opts.release && this.owned.has(values) && values.byteOffset === 0 && values.byteLength === values.buffer.byteLength) this.addon.detach(values);
    return freed;
  }

  /** Arrays this backend allocated for kernel outputs (see storeHalf's `release`). */
  private readonly owned = new WeakSet<Float32Array>();

  /** A filter or weight-matrix operand for the addon: the half-width bits where the tensor has them, else float32. */
  weight(t: tf.TensorInfo): Float32Array | HalfBits {
    return this.halves.get(t.dataId) ?? this.f32(t);
  }

  private readonly packIds = new Map<object, number>();
  private nextPackId = 1;

  /**
   * The id under which the addon keeps this filter reordered into oneDNN's preferred layout (filters are immutable
   * tfjs data; the kept copy is dropped when the tensor's data are disposed).
   */
  packId(t: tf.TensorInfo): number {
    if (this.halves.has(t.dataId)) return 0; // half-width weights are widened per call, never kept wide
    let id = this.packIds.get(t.dataId);
    if (id === undefined) this.packIds.set(t.dataId, (id = this.nextPackId++));
    return id;
  }

  override disposeData(dataId: object, force?: boolean): boolean {
    const released = super.disposeData(dataId, force);
    if (released) this.halves.delete(dataId);
    const id = this.packIds.get(dataId);
    if (released && id !== undefined) {
      this.addon.release(id);
      this.packIds.delete(dataId);
    }
    return released;
  }

  override move(dataId: object, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.halves.delete(dataId);
    super.move(dataId, values, shape, dtype, refCount);
  }

  /** A new float32 output tensor over `values`. */
  out(shape: readonly number[], values: Float32Array): tf.TensorInfo {
    this.owned.add(values);
    return this.makeTensorInfo([...shape], 'float32', values);
  }

  /**
   * Memory: the bytes the addon holds for itself (kept filter layouts, per-call copies), the work buffers it keeps
   * between calls at the largest size asked so far (`workspaceBytes`: oneDNN scratchpads and Winograd layouts; not
   * in `addonBytes`, so leak checks stay exact), and the bytes of tensor data held in half-width storage
   * (`halfBytes`; tfjs's own `numBytes` still counts those tensors at 4 bytes an element).
   */
  override memory(): { unreliable: boolean; reasons: string[]; addonBytes: number; addonPeakBytes: number; workspaceBytes: number; halfBytes: number } {
    const m = this.addon.memory();
    let halfBytes = 0;
    for (const h of this.halves.values()) halfBytes += h.bits.byteLength;
    return { unreliable: false, reasons: [], addonBytes: m.bytes, addonPeakBytes: m.peakBytes, workspaceBytes: m.workspaceBytes, halfBytes };
  }

  /**
   * Frees the work buffers kept between calls (`memory().workspaceBytes`), e.g. after a VAE decode at 512x512
   * before a long idle; the next kernel that needs one allocates it again.
   *
   * @example
   * ```ts
   * (tf.backend() as NativeBackend).releaseWorkspace();
   * ```
   */
  releaseWorkspace(): void {
    this.addon.releaseWorkspace();
  }
}

/** The kernel's native backend. */
export function nativeOf(backend: unknown): NativeBackend {
  return backend as NativeBackend;
}

/**
 * A kernel config for `native`: `run` gets the backend, the call's inputs and attributes, and tfjs-backend-cpu's
 * kernel of the same name (when it has one) for the cases it leaves to it.
 *
 * @example
 * ```ts
 * nativeKernel('Exp', (b, { inputs }, cpu) => (inputs['x']!.dtype === 'float32' ? myExp(b, inputs['x']!) : cpu()));
 * ```
 */
export function nativeKernel(
  name: string,
  run: (b: NativeBackend, args: { inputs: tf.NamedTensorInfoMap; attrs: Record<string, unknown> }, cpu: () => tf.TensorInfo | tf.TensorInfo[]) => tf.TensorInfo | tf.TensorInfo[],
): tf.KernelConfig {
  const fallback = tf.getKernel(name, 'cpu')?.kernelFunc;
  return {
    kernelName: name,
    backendName: 'native',
    kernelFunc: (args) => {
      const cpu = (): tf.TensorInfo | tf.TensorInfo[] => {
        if (!fallback) throw new Error(`kernel ${name}: no tfjs-backend-cpu kernel for this case`);
        return fallback(args);
      };
      return run(nativeOf(args.backend), { inputs: args.inputs, attrs: (args.attrs ?? {}) as Record<string, unknown> }, cpu);
    },
  };
}
