/**
 * Weight storage: models keep their weight matrices and filters in float32 (the default) or, on the native
 * backend, in half-width storage (`fp16` or `bf16`), which halves the memory of a model (SD 1.5's UNet: 3.4 GB
 * to 1.7 GB). Chosen with {@link initBackend}'s `weightStorage` option or `SEMEDIT_WEIGHTS`; models apply it with
 * {@link storeWeights} when they are built. Compute stays float32: convolutions and matmuls widen the bits per call.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';

/**
 * How model weights are held: `fp32`, or half-width `fp16` (11 significant bits, range ±65504) or `bf16` (8 bits,
 * float32's range). Measured against fp32 weights (3x3 conv, random data): 1.8e-4 (fp16) and 1.8e-3 (bf16) of the
 * output's largest magnitude.
 *
 * @example
 * ```ts
 * await initBackend({ backend: 'native', weightStorage: 'fp16' });
 * ```
 */
export type WeightStorage = 'fp32' | 'fp16' | 'bf16';

/**
 * Every weight storage, `fp32` first.
 *
 * @example
 * ```ts
 * WEIGHT_STORAGES.includes('bf16'); // true
 * ```
 */
export const WEIGHT_STORAGES = ['fp32', 'fp16', 'bf16'] as const;

/** A backend with half-width storage (`@semedit/native`'s NativeBackend). */
interface HalfStoringBackend {
  storeHalf(t: tf.TensorInfo, format: 'fp16' | 'bf16', opts?: { release?: boolean }): number;
}

let current: WeightStorage = 'fp32';

/**
 * Whether a backend can keep tensor data in half-width storage.
 *
 * @example
 * ```ts
 * canStoreHalf(tf.backend()); // true on native
 * ```
 */
export function canStoreHalf(backend: unknown): boolean {
  return typeof (backend as Partial<HalfStoringBackend>).storeHalf === 'function';
}

/**
 * Sets the storage {@link storeWeights} applies (initBackend calls this after checking the backend).
 *
 * @throws OptionError for an unknown storage
 * @example
 * ```ts
 * setWeightStorage('fp32');
 * ```
 */
export function setWeightStorage(storage: WeightStorage): void {
  if (!(WEIGHT_STORAGES as readonly string[]).includes(storage)) {
    throw new OptionError('weightStorage', `unknown weight storage ${JSON.stringify(storage)}; expected one of ${WEIGHT_STORAGES.join(', ')}`);
  }
  current = storage;
}

/**
 * The storage models apply to their weights.
 *
 * @example
 * ```ts
 * getWeightStorage(); // 'fp32'
 * ```
 */
export function getWeightStorage(): WeightStorage {
  return current;
}

/**
 * Puts a model's weights into the current storage: every float32 tensor of rank 2 or more among them (weight
 * matrices, filters, embeddings), not variables (they are trained) and not vectors (biases and norm parameters, a
 * tiny share of the bytes, stay float32). Tensors already in half-width storage are left as they are. A no-op for
 * `fp32`. Models pass their parameter trees through nn's `paramTensors`.
 *
 * @param tensors the weights
 * @param opts   `release`: the tensors were just made and nobody has read their data, so the backend may free
 *   their float32 memory at once rather than when the garbage collector runs (model loading does this)
 * @returns the bytes freed
 * @throws OptionError when half-width storage is set and the active backend has none (another backend was set
 *   after initBackend)
 * @example
 * ```ts
 * const freed = storeWeights(paramTensors(unet.params)); // 0 with fp32; about half the weight bytes with fp16
 * ```
 */
export function storeWeights(tensors: tf.Tensor | readonly tf.Tensor[], opts: { release?: boolean } = {}): number {
  if (current === 'fp32') return 0;
  const backend = tf.backend();
  if (!canStoreHalf(backend)) {
    throw new OptionError('weightStorage', `${current} weight storage needs the native backend; the active backend is ${tf.getBackend()}`);
  }
  let freed = 0;
  for (const t of Array.isArray(tensors) ? tensors : [tensors as tf.Tensor]) {
    if (!(t instanceof tf.Variable) && t.dtype === 'float32' && t.rank >= 2 && !t.isDisposed) freed += (backend as unknown as HalfStoringBackend).storeHalf(t, current, opts);
  }
  return freed;
}
