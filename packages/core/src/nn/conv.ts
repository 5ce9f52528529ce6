/**
 * 2-D convolution over NHWC activations with HWIO kernels (converted from PyTorch's OIHW once at load).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError } from '../errors.js';

/**
 * Parameters of a `torch.nn.Conv2d`, kernel in tfjs' `[kh, kw, in, out]` layout.
 *
 * @example
 * ```ts
 * const p: Conv2dParams = { weight: tf.zeros([3, 3, 4, 32]) as tf.Tensor4D, bias: tf.zeros([32]) as tf.Tensor1D };
 * ```
 */
export interface Conv2dParams {
  /** `[kh, kw, in, out]`. */
  weight: tf.Tensor4D;
  /** `[out]`. */
  bias?: tf.Tensor1D;
}

/**
 * Options of {@link conv2d}.
 *
 * @example
 * ```ts
 * const o: Conv2dOptions = { stride: 2, padding: 1 };
 * ```
 */
export interface Conv2dOptions {
  /** Stride in both directions (default 1). */
  stride?: number;
  /** Zero padding on every side, as PyTorch's `padding=` (default `(k - 1) / 2`, "same" for odd kernels). */
  padding?: number;
}

/**
 * `torch.nn.Conv2d` forward on NHWC input.
 *
 * @param p    kernel and bias
 * @param x    `[B, H, W, in]`
 * @param opts stride and padding
 * @returns `[B, H', W', out]`
 * @example
 * ```ts
 * conv2d(p, tf.zeros([1, 32, 32, 4])).shape; // [1, 32, 32, 32] with p.weight [3, 3, 4, 32]
 * ```
 */
export function conv2d(p: Conv2dParams, x: tf.Tensor4D, opts: Conv2dOptions = {}): tf.Tensor4D {
  const [kh, , cin] = p.weight.shape;
  if (x.shape[3] !== cin) throw new ShapeMismatchError('conv2d input', [null, null, null, cin], x.shape);
  const pad = opts.padding ?? (kh - 1) / 2;
  const stride = opts.stride ?? 1;
  return tf.fused.conv2d({ x, filter: p.weight, strides: stride, pad: pad === 0 ? 'valid' : pad, bias: p.bias });
}
