/**
 * The `native` tfjs backend: tensor storage and bookkeeping are MathBackendCPU's (data in off-heap ArrayBuffers,
 * no 4 GiB ceiling), and the compute-heavy kernels run in the oneDNN addon. Every other kernel of tfjs-backend-cpu
 * is registered for `native` too, under its own name, so that the set of kernels is explicit: a kernel neither
 * provides is not registered, and tfjs fails loudly on it.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Addon } from './addon.js';

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

  private readonly packIds = new Map<object, number>();
  private nextPackId = 1;

  /**
   * The id under which the addon keeps this filter reordered into oneDNN's preferred layout (filters are immutable
   * tfjs data; the kept copy is dropped when the tensor's data are disposed).
   */
  packId(t: tf.TensorInfo): number {
    let id = this.packIds.get(t.dataId);
    if (id === undefined) this.packIds.set(t.dataId, (id = this.nextPackId++));
    return id;
  }

  override disposeData(dataId: object, force?: boolean): boolean {
    const released = super.disposeData(dataId, force);
    const id = this.packIds.get(dataId);
    if (released && id !== undefined) {
      this.addon.release(id);
      this.packIds.delete(dataId);
    }
    return released;
  }

  /** A new float32 output tensor over `values`. */
  out(shape: readonly number[], values: Float32Array): tf.TensorInfo {
    return this.makeTensorInfo([...shape], 'float32', values);
  }

  /** Memory: tfjs's accounting plus the bytes the addon holds for itself (scratchpads). */
  override memory(): { unreliable: boolean; reasons: string[]; addonBytes: number; addonPeakBytes: number } {
    const m = this.addon.memory();
    return { unreliable: false, reasons: [], addonBytes: m.bytes, addonPeakBytes: m.peakBytes };
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
