/**
 * Turning checkpoint tensors into tfjs tensors, and the layout changes made once at load (style.md 3.2):
 * PyTorch conv kernels `[out, in, kh, kw]` (OIHW) become `[kh, kw, in, out]` (HWIO), linear weights `[out, in]`
 * become `[in, out]`, activations NCHW become NHWC.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError, SemeditError } from '../errors.js';
import { bf16BitsToFloat32, halfBitsToFloat32 } from '../io/dtype.js';
import type { RawTensor } from '../io/types.js';

/**
 * Converts a checkpoint tensor to a tfjs tensor: floats become float32 (f16/bf16 widened, f64 narrowed), integer
 * types int32 (an int64 value outside the int32 range is an error naming the tensor), bool stays bool.
 *
 * @param raw  the tensor as read from a checkpoint
 * @param name its key, for error messages
 * @example
 * ```ts
 * const t = rawToTensor({ dtype: 'float16', shape: [1], data: new Uint16Array([0x3c00]) }); // float32 [1]
 * ```
 */
export function rawToTensor(raw: RawTensor, name = 'tensor'): tf.Tensor {
  const { dtype, shape, data } = raw;
  switch (dtype) {
    case 'float32':
      return tf.tensor(data as Float32Array, shape, 'float32');
    case 'float64':
      return tf.tensor(Float32Array.from(data as Float64Array), shape, 'float32');
    case 'float16':
      return tf.tensor(halfBitsToFloat32(data as Uint16Array), shape, 'float32');
    case 'bfloat16':
      return tf.tensor(bf16BitsToFloat32(data as Uint16Array), shape, 'float32');
    case 'bool':
      return tf.tensor(Uint8Array.from(data as Uint8Array), shape, 'bool');
    case 'int64': {
      const src = data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new SemeditError('E_DTYPE', `"${name}" holds int64 value ${v} at index ${i}, outside the int32 range tfjs supports`);
        }
        out[i] = Number(v);
      }
      return tf.tensor(out, shape, 'int32');
    }
    default:
      return tf.tensor(Int32Array.from(data as ArrayLike<number>), shape, 'int32');
  }
}

/**
 * Converts a PyTorch conv kernel `[out, in, kh, kw]` to tfjs' `[kh, kw, in, out]`.
 *
 * @param raw  conv weight as stored (OIHW)
 * @param name its key, for error messages
 * @example
 * ```ts
 * const w = convWeightToHwio(raw); // raw.shape [32, 4, 3, 3] -> w.shape [3, 3, 4, 32]
 * ```
 */
export function convWeightToHwio(raw: RawTensor, name = 'conv weight'): tf.Tensor4D {
  if (raw.shape.length !== 4) throw new ShapeMismatchError(name, [null, null, null, null], raw.shape);
  return tf.tidy(() => tf.transpose(rawToTensor(raw, name), [2, 3, 1, 0]) as tf.Tensor4D);
}

/**
 * Converts a PyTorch linear weight `[out, in]` to `[in, out]`, so that it applies as `matMul(x, W)` without
 * `transposeB` (which leaves wasm's fast path).
 *
 * @param raw  linear weight as stored
 * @param name its key, for error messages
 * @example
 * ```ts
 * const w = linearWeightToInOut(raw); // [64, 32] -> [32, 64]
 * ```
 */
export function linearWeightToInOut(raw: RawTensor, name = 'linear weight'): tf.Tensor2D {
  if (raw.shape.length !== 2) throw new ShapeMismatchError(name, [null, null], raw.shape);
  return tf.tidy(() => tf.transpose(rawToTensor(raw, name), [1, 0]) as tf.Tensor2D);
}

/**
 * Converts an NCHW activation (as stored in the fixtures and PyTorch) to NHWC.
 *
 * @param raw  `[N, C, H, W]`
 * @param name its key, for error messages
 * @example
 * ```ts
 * const x = nchwToNhwcTensor(sample); // [2, 4, 32, 32] -> [2, 32, 32, 4]
 * ```
 */
export function nchwToNhwcTensor(raw: RawTensor, name = 'activation'): tf.Tensor4D {
  if (raw.shape.length !== 4) throw new ShapeMismatchError(name, [null, null, null, null], raw.shape);
  return tf.tidy(() => tf.transpose(rawToTensor(raw, name), [0, 2, 3, 1]) as tf.Tensor4D);
}
