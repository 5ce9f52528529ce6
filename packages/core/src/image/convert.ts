/**
 * Conversions between 8-bit images and float NHWC tensors, with the value conventions of diffusers'
 * `VaeImageProcessor`:
 * - to a tensor: `x = v / 255` in float32, then for `'-1-1'` `2 * x - 1` (`normalize`);
 * - to pixels: for `'-1-1'` `(x / 2 + 0.5).clamp(0, 1)` (`denormalize`), then `(x * 255).round()` in float32 with
 *   numpy's round-half-to-even (`numpy_to_pil`). So -1 -> 0, 0 -> 127.5 -> 128, 1 -> 255.
 *
 * NaN or infinite values never become pixels: they raise {@link ImageValueError} with their count.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { ImageValueError } from './errors.js';
import { assertImage } from './image.js';
import type { Channels, Image } from './image.js';

/** Value range of a float image tensor: `'0-255'`, `'0-1'` or `'-1-1'` (the diffusers/VAE convention). */
export type PixelRange = '0-255' | '0-1' | '-1-1';

/** Options of {@link imageToTensor}. */
export interface ImageToTensorOptions {
  /** Range the tensor values should have. */
  range: PixelRange;
  /** What to do with an RGBA image's alpha: `'drop'` (default, C = 3) or `'keep'` (C = 4). */
  alpha?: 'drop' | 'keep';
}

/** Options of {@link tensorToImage} and {@link tensorToImages}. */
export interface TensorToImageOptions {
  /** Range the tensor values are in; values outside are clamped. */
  range: PixelRange;
  /** What to call the tensor in errors. */
  name?: string;
}

const RANGES: readonly PixelRange[] = ['0-255', '0-1', '-1-1'];

function checkRange(range: unknown): asserts range is PixelRange {
  if (!RANGES.includes(range as PixelRange)) throw new OptionError('range', `must be one of ${RANGES.join(', ')}, got ${String(range)}`);
}

/** One 8-bit sample to a float in `range`, in float32 arithmetic like diffusers. */
function sampleToFloat(v: number, range: PixelRange): number {
  if (range === '0-255') return v;
  const x = Math.fround(v / 255);
  return range === '0-1' ? x : Math.fround(2 * x - 1);
}

/** Rounds half to even (numpy's `round`), for non-negative inputs. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One float in `range` to an 8-bit sample: denormalize, clamp, scale by 255 in float32, round half to even. */
function floatToSample(x: number, range: PixelRange): number {
  if (range === '0-255') return roundHalfEven(Math.min(Math.max(x, 0), 255));
  const unit = range === '0-1' ? x : Math.fround(Math.fround(x / 2) + 0.5);
  return roundHalfEven(Math.fround(Math.min(Math.max(unit, 0), 1) * 255));
}

/**
 * Converts one image to a float32 tensor `[1, H, W, C]`.
 *
 * @param img  8-bit image (gray gives C = 1, RGB C = 3, RGBA C = 3 or 4 after `alpha`)
 * @param opts `range` of the result and `alpha` handling
 * @returns tensor `[1, H, W, C]` float32 (the caller owns it)
 * @example
 * ```ts
 * const t = imageToTensor(createImage(1, 1, 3, [0, 255, 128]), { range: '-1-1' });
 * console.log(t.shape, Array.from(t.dataSync())); // [1, 1, 1, 3] [-1, 1, 0.0039215...]
 * ```
 */
export function imageToTensor(img: Image, opts: ImageToTensorOptions): tf.Tensor4D {
  return imagesToTensor([img], opts);
}

/**
 * Stacks images of one size and channel count into a float32 tensor `[N, H, W, C]`.
 *
 * @param images one or more images, all `H x W` with the same channel count
 * @param opts   `range` of the result and `alpha` handling
 * @returns tensor `[N, H, W, C]` float32 (the caller owns it)
 * @example
 * ```ts
 * const t = imagesToTensor([a, b], { range: '0-1' });
 * console.log(t.shape); // [2, 64, 64, 3]
 * ```
 */
export function imagesToTensor(images: readonly Image[], opts: ImageToTensorOptions): tf.Tensor4D {
  checkRange(opts.range);
  const alpha = opts.alpha ?? 'drop';
  if (alpha !== 'drop' && alpha !== 'keep') throw new OptionError('alpha', `must be 'drop' or 'keep', got ${String(alpha)}`);
  const first = images[0];
  if (!first) throw new OptionError('images', 'needs at least one image');
  const { width: w, height: h, channels: cin } = first;
  const c = cin === 4 && alpha === 'drop' ? 3 : cin;
  const out = new Float32Array(images.length * h * w * c);
  images.forEach((img, n) => {
    assertImage(img, `images[${n}]`);
    if (img.width !== w || img.height !== h || img.channels !== cin) {
      throw new ShapeMismatchError(`images[${n}]`, [h, w, cin], [img.height, img.width, img.channels]);
    }
    const base = n * h * w * c;
    for (let p = 0; p < h * w; p++) {
      for (let k = 0; k < c; k++) out[base + p * c + k] = sampleToFloat(img.data[p * cin + k]!, opts.range);
    }
  });
  return tf.tensor4d(out, [images.length, h, w, c], 'float32');
}

/**
 * Converts raw float samples `[H, W, C]` (row-major) to an 8-bit image, as diffusers' postprocessing does.
 *
 * @param values `H * W * C` floats in `opts.range`
 * @param shape  `[H, W, C]` with C in 1, 3, 4
 * @param opts   value range and a name for errors
 * @throws ImageValueError if any value is NaN or infinite
 * @example
 * ```ts
 * const img = floatsToImage(new Float32Array([-1, 0, 1]), [1, 1, 3], { range: '-1-1' });
 * console.log(Array.from(img.data)); // [0, 128, 255]
 * ```
 */
export function floatsToImage(values: ArrayLike<number>, shape: readonly [number, number, number], opts: TensorToImageOptions): Image {
  checkRange(opts.range);
  const name = opts.name ?? 'tensor';
  const [h, w, c] = shape;
  if (c !== 1 && c !== 3 && c !== 4) throw new ShapeMismatchError(`${name} (channels must be 1, 3 or 4)`, [h, w, 3], [...shape]);
  if (values.length !== h * w * c) throw new ShapeMismatchError(name, [h * w * c], [values.length]);
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
  }
  if (nan || inf) throw new ImageValueError(name, nan, inf, values.length);
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = floatToSample(values[i]!, opts.range);
  return { width: w, height: h, channels: c as Channels, data };
}

/** `[N, H, W, C]` of a rank-3 or rank-4 image tensor, or a ShapeMismatchError. */
function batchShape(t: tf.Tensor, name: string): [number, number, number, number] {
  const s = t.shape;
  if (s.length === 3) return [1, s[0]!, s[1]!, s[2]!];
  if (s.length === 4) return [s[0]!, s[1]!, s[2]!, s[3]!];
  throw new ShapeMismatchError(`${name} ([H, W, C] or [N, H, W, C])`, [null, null, null, null], s);
}

/**
 * Converts an image tensor `[H, W, C]` or `[1, H, W, C]` to an 8-bit image (clamping, float32 scaling, round
 * half to even). Reads the data synchronously; the tensor is not disposed.
 *
 * @param t    image tensor `[H, W, C]` or `[1, H, W, C]`, C in 1, 3, 4
 * @param opts the `range` the values are in
 * @throws ImageValueError on NaN/infinite values; ShapeMismatchError on a batch of more than one
 * @example
 * ```ts
 * const img = tensorToImage(tf.fill([8, 8, 3], 0), { range: '-1-1' });
 * console.log(img.data[0]); // 128
 * ```
 */
export function tensorToImage(t: tf.Tensor, opts: TensorToImageOptions): Image {
  const name = opts.name ?? 'tensor';
  const [n, h, w, c] = batchShape(t, name);
  if (n !== 1) throw new ShapeMismatchError(`${name} (use tensorToImages for a batch)`, [1, h, w, c], t.shape);
  return floatsToImage(t.dataSync(), [h, w, c], { ...opts, name });
}

/**
 * Converts a batch tensor `[N, H, W, C]` (or a single `[H, W, C]`) to N 8-bit images.
 *
 * @param t    image tensor `[N, H, W, C]` or `[H, W, C]`
 * @param opts the `range` the values are in
 * @throws ImageValueError naming the batch index on NaN/infinite values
 * @example
 * ```ts
 * const imgs = tensorToImages(decoded, { range: '-1-1' }); // decoded: [4, 64, 64, 3]
 * console.log(imgs.length); // 4
 * ```
 */
export function tensorToImages(t: tf.Tensor, opts: TensorToImageOptions): Image[] {
  const name = opts.name ?? 'tensor';
  const [n, h, w, c] = batchShape(t, name);
  const all = t.dataSync();
  const size = h * w * c;
  const out: Image[] = [];
  for (let i = 0; i < n; i++) {
    out.push(floatsToImage(all.subarray(i * size, (i + 1) * size), [h, w, c], { ...opts, name: `${name}[${i}]` }));
  }
  return out;
}
