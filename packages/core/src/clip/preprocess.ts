/**
 * Image preprocessing for CLIP's vision tower, on NHWC tensors and differentiable:
 * - {@link clipPreprocess}: transformers' `CLIPImageProcessor` (and OpenAI's `_transform`): resize the shortest
 *   side with PIL's bicubic filter, center crop, rescale, normalize with CLIP's mean/std;
 * - {@link styleClipResize}: StyleCLIP's CLIP-loss resize, `AvgPool2d(k)(Upsample(scale_factor=7))`, without
 *   normalization (StyleCLIP feeds the [-1, 1] generator output as is).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { applySeparable, pilBicubicMatrix, upsamplePoolMatrix } from './resample.js';

/**
 * OpenAI CLIP's per-channel RGB mean (`image_mean` of every CLIP `preprocessor_config.json`).
 *
 * @example
 * ```ts
 * clipPreprocess(rgb, { mean: OPENAI_CLIP_MEAN, std: OPENAI_CLIP_STD }); // the defaults
 * ```
 */
export const OPENAI_CLIP_MEAN: readonly number[] = [0.48145466, 0.4578275, 0.40821073];
/**
 * OpenAI CLIP's per-channel RGB standard deviation (`image_std`).
 *
 * @example
 * ```ts
 * OPENAI_CLIP_STD.length; // 3
 * ```
 */
export const OPENAI_CLIP_STD: readonly number[] = [0.26862954, 0.26130258, 0.27577711];

/**
 * Options of {@link clipPreprocess}; defaults are `openai/clip-vit-*`'s `preprocessor_config.json`.
 *
 * @example
 * ```ts
 * const o: ClipPreprocessOptions = { size: 336, rescaleFactor: 1 }; // ViT-L/14@336, inputs in [0, 1]
 * ```
 */
export interface ClipPreprocessOptions {
  /** Target length of the shortest side (`size.shortest_edge`), default 224. */
  size?: number;
  /** Side of the square center crop (`crop_size`), default `size`. */
  cropSize?: number;
  /** Multiplier applied before normalizing (`rescale_factor`): 1/255 (default) for 0-255 inputs, 1 for [0, 1]. */
  rescaleFactor?: number;
  /** Per-channel mean (`image_mean`), default {@link OPENAI_CLIP_MEAN}. */
  mean?: readonly number[];
  /** Per-channel standard deviation (`image_std`), default {@link OPENAI_CLIP_STD}. */
  std?: readonly number[];
}

/**
 * Where {@link clipPreprocess} resizes and crops an `H × W` image.
 *
 * @example
 * ```ts
 * clipResizeGeometry(480, 640, 224, 224); // { height: 224, width: 298, top: 0, left: 37 }
 * ```
 */
export interface ClipResizeGeometry {
  /** Resized height and width: the shortest side becomes `size`, the other `floor(size · long / short)`. */
  height: number;
  width: number;
  /** Crop offsets in the resized image: `floor((resized - crop) / 2)` (transformers' `center_crop`). */
  top: number;
  left: number;
}

/**
 * Computes the resize and crop of transformers' `CLIPImageProcessor` for an `H × W` image.
 *
 * @param height   input height
 * @param width    input width
 * @param size     shortest side after resizing
 * @param cropSize crop side
 * @throws OptionError when the crop does not fit in the resized image
 * @example
 * ```ts
 * clipResizeGeometry(300, 200, 224, 224).height; // 336
 * ```
 */
export function clipResizeGeometry(height: number, width: number, size: number, cropSize: number): ClipResizeGeometry {
  const short = Math.min(height, width);
  const long = Math.max(height, width);
  const longOut = Math.trunc((size * long) / short);
  const [h, w] = height <= width ? [size, longOut] : [longOut, size];
  if (cropSize > h || cropSize > w) throw new OptionError('cropSize', `${cropSize} does not fit in the resized ${h}x${w} image`);
  return { height: h, width: w, top: Math.floor((h - cropSize) / 2), left: Math.floor((w - cropSize) / 2) };
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new OptionError(name, `must be an integer >= 1, got ${v}`);
  return v;
}

/**
 * CLIP's image preprocessing on a batch of NHWC RGB images: PIL-bicubic resize of the shortest side to `size`
 * (antialiased when shrinking), center crop to `cropSize`, `× rescaleFactor`, `(x - mean) / std`. Computed in
 * float without PIL's uint8 rounding after the resize (differences up to half a grey level on 8-bit inputs).
 * Differentiable; one `tf.tidy`.
 *
 * @param images `[N, H, W, 3]` RGB, 0-255 by default (see `rescaleFactor`)
 * @param opts   `size`, `cropSize`, `rescaleFactor`, `mean`, `std`
 * @returns `[N, cropSize, cropSize, 3]`, ready for the vision tower
 * @example
 * ```ts
 * const rgb = imagesToTensor([photo], { range: '0-255' }); // [1, 480, 640, 3]
 * const pixels = clipPreprocess(rgb);                        // [1, 224, 224, 3], normalized
 * ```
 */
export function clipPreprocess(images: tf.Tensor, opts: ClipPreprocessOptions = {}): tf.Tensor4D {
  const size = positiveInt('size', opts.size ?? 224);
  const crop = positiveInt('cropSize', opts.cropSize ?? size);
  const mean = opts.mean ?? OPENAI_CLIP_MEAN;
  const std = opts.std ?? OPENAI_CLIP_STD;
  const rescale = opts.rescaleFactor ?? 1 / 255;
  if (images.rank !== 4 || images.shape[3] !== mean.length) throw new ShapeMismatchError('images (NHWC)', [null, null, null, mean.length], images.shape);
  if (std.length !== mean.length || std.some((s) => !(s > 0))) throw new OptionError('std', `must hold ${mean.length} positive values`);
  const [, h, w] = images.shape as [number, number, number, number];
  const g = clipResizeGeometry(h, w, size, crop);
  // Resize and crop in one separable map: the crop keeps rows [top, top + crop) of each axis' resize matrix.
  const rows = pilBicubicMatrix(h, g.height).subarray(g.top * h, (g.top + crop) * h);
  const cols = pilBicubicMatrix(w, g.width).subarray(g.left * w, (g.left + crop) * w);
  return tf.tidy(() => {
    const resized = applySeparable(images as tf.Tensor4D, rows, cols);
    const scale = tf.tensor1d(std.map((s) => rescale / s));
    const shift = tf.tensor1d(mean.map((m, i) => m / std[i]!));
    return tf.sub(tf.mul(resized, scale), shift) as tf.Tensor4D;
  });
}

/**
 * Options of {@link styleClipResize}.
 *
 * @example
 * ```ts
 * const o: StyleClipResizeOptions = { scaleFactor: 7, kernel: 32 }; // 1024 px -> 224 px
 * ```
 */
export interface StyleClipResizeOptions {
  /** Nearest-neighbour upsampling factor, default 7 (StyleCLIP's `nn.Upsample(scale_factor=7)`). */
  scaleFactor?: number;
  /** Average-pool window and stride, default `floor(H / 32)` (StyleCLIP's `AvgPool2d(stylegan_size // 32)`). */
  kernel?: number;
  /**
   * `matrix` (default): the same linear map as two matmuls, without the 7×-upsampled intermediate;
   * `ref`: `resizeNearestNeighbor` then `avgPool`, literally as StyleCLIP (the reference the other is tested against).
   */
  impl?: 'matrix' | 'ref';
}

/**
 * StyleCLIP's resize of a generator image for CLIP (`CLIPLoss.forward`): nearest upsampling by `scaleFactor`, then
 * average pooling with `kernel` (output `floor(S · scaleFactor / kernel)`; 1024 → 224 with the defaults). No
 * mean/std normalization and no clamping, as StyleCLIP. Differentiable; one `tf.tidy`.
 *
 * @param images `[N, H, W, C]` generator output (StyleCLIP: in [-1, 1])
 * @param opts   `scaleFactor`, `kernel`, `impl`
 * @returns `[N, floor(H·f/k), floor(W·f/k), C]`
 * @example
 * ```ts
 * const clipInput = styleClipResize(generated); // [N, 1024, 1024, 3] -> [N, 224, 224, 3]
 * ```
 */
export function styleClipResize(images: tf.Tensor, opts: StyleClipResizeOptions = {}): tf.Tensor4D {
  if (images.rank !== 4) throw new ShapeMismatchError('images (NHWC)', [null, null, null, null], images.shape);
  const [, h, w] = images.shape as [number, number, number, number];
  const factor = positiveInt('scaleFactor', opts.scaleFactor ?? 7);
  const kernel = positiveInt('kernel', opts.kernel ?? Math.floor(h / 32));
  if (opts.impl === 'ref') {
    if (kernel > h * factor || kernel > w * factor) throw new OptionError('kernel', `${kernel} is larger than the upsampled image`);
    return tf.tidy(() => {
      const up = tf.image.resizeNearestNeighbor(images as tf.Tensor4D, [h * factor, w * factor]);
      return tf.avgPool(up, kernel, kernel, 'valid');
    });
  }
  if (opts.impl !== undefined && opts.impl !== 'matrix') throw new OptionError('impl', `must be 'matrix' or 'ref', got ${String(opts.impl)}`);
  return applySeparable(images as tf.Tensor4D, upsamplePoolMatrix(h, factor, kernel), upsamplePoolMatrix(w, factor, kernel));
}
