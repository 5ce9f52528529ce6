/**
 * Resolution changes of the diffusion models: `Downsample2D` (strided 3×3 conv) and `Upsample2D` (nearest
 * neighbour, then a 3×3 conv), NHWC.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, type Conv2dParams } from './conv.js';

/**
 * `Downsample2D` / `Upsample2D` parameters (`downsamplers.0.conv`, `upsamplers.0.conv`).
 *
 * @example
 * ```ts
 * const p: SamplerParams = { conv: { weight: w, bias: b } };
 * ```
 */
export interface SamplerParams {
  conv: Conv2dParams;
}

/**
 * Options of {@link downsample2d}.
 *
 * @example
 * ```ts
 * const o: DownsampleOptions = { padding: 0 }; // the VAE encoder's asymmetric padding
 * ```
 */
export interface DownsampleOptions {
  /**
   * diffusers' `padding`: 1 (the UNet's `downsample_padding`) pads one pixel on every side; 0 (the VAE encoder)
   * pads one pixel on the right and bottom only, then convolves without padding.
   */
  padding: number;
}

/**
 * `Downsample2D(use_conv=True)`: a 3×3 conv with stride 2.
 *
 * @param p    the conv
 * @param x    `[B, H, W, C]`
 * @param opts `padding`
 * @returns `[B, ceil(H/2), ceil(W/2), C']` (padding 1) or `[B, floor(H/2), floor(W/2), C']` (padding 0)
 * @example
 * ```ts
 * downsample2d(p, tf.zeros([1, 32, 32, 32]), { padding: 1 }).shape; // [1, 16, 16, 32]
 * ```
 */
export function downsample2d(p: SamplerParams, x: tf.Tensor4D, opts: DownsampleOptions): tf.Tensor4D {
  if (opts.padding === 0) {
    const padded = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]);
    return conv2d(p.conv, padded, { stride: 2, padding: 0 });
  }
  return conv2d(p.conv, x, { stride: 2, padding: opts.padding });
}

/**
 * Options of {@link upsample2d}.
 *
 * @example
 * ```ts
 * const o: UpsampleOptions = { size: [17, 23] };
 * ```
 */
export interface UpsampleOptions {
  /** Output `[height, width]` (diffusers' `upsample_size`, for inputs not divisible by the total downscale); default 2×. */
  size?: readonly [number, number];
}

/**
 * `Upsample2D(use_conv=True)`: nearest-neighbour resize (2× or to `size`, `src = floor(dst · in / out)` as
 * PyTorch's `nearest`) then a 3×3 conv.
 *
 * @param p    the conv
 * @param x    `[B, H, W, C]`
 * @param opts output size
 * @returns `[B, 2H, 2W, C']` or `[B, size[0], size[1], C']`
 * @example
 * ```ts
 * upsample2d(p, tf.zeros([1, 16, 16, 64])).shape; // [1, 32, 32, 64]
 * ```
 */
export function upsample2d(p: SamplerParams, x: tf.Tensor4D, opts: UpsampleOptions = {}): tf.Tensor4D {
  const [, h, w] = x.shape;
  const size = opts.size ?? [2 * h, 2 * w];
  const up = tf.image.resizeNearestNeighbor(x, [size[0], size[1]], false, false);
  return conv2d(p.conv, up);
}
