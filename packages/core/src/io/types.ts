/**
 * Types shared by every checkpoint reader.
 * @module
 */
import type { DType, TensorData } from './dtype.js';

/**
 * A tensor read from a checkpoint, in its stored dtype, logically contiguous (row-major) after any strided view
 * was applied. f16/bf16 data are raw bits in a `Uint16Array`; `int64` is a `BigInt64Array`.
 *
 * @example
 * ```ts
 * const t: RawTensor = { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) };
 * ```
 */
export interface RawTensor {
  /** Stored element type. */
  dtype: DType;
  /** Logical shape (`[]` for a scalar). */
  shape: number[];
  /** Elements in row-major order, `product(shape)` of them. */
  data: TensorData;
  /** For PyTorch tensors: the view's strides in elements, as stored. */
  stride?: number[];
  /** For PyTorch tensors: the view's offset into its storage, in elements. */
  storageOffset?: number;
}

/**
 * Describes one tensor in a checkpoint without reading its data.
 *
 * @example
 * ```ts
 * const info: TensorInfo = { name: 'conv_in.bias', dtype: 'float16', shape: [32] };
 * ```
 */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
}
