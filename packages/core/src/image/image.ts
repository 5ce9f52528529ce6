/**
 * The in-memory image type shared by the PNG codec, the tensor conversions and the grid: 8-bit, interleaved,
 * row-major (`data[(y * width + x) * channels + c]`), with 1 (gray), 3 (RGB) or 4 (RGBA) channels.
 * @module
 */
import { OptionError, ShapeMismatchError } from '../errors.js';

/** Channel count of an {@link Image}: 1 gray, 3 RGB, 4 RGBA. */
export type Channels = 1 | 3 | 4;

/** An 8-bit image; `data.length === width * height * channels`, pixel (x, y) starts at `(y * width + x) * channels`. */
export interface Image {
  width: number;
  height: number;
  channels: Channels;
  /** Interleaved samples, row-major, top row first. */
  data: Uint8Array;
}

/**
 * Allocates an image filled with one colour.
 *
 * @param width    width in pixels (positive integer)
 * @param height   height in pixels (positive integer)
 * @param channels 1, 3 or 4
 * @param fill     one value per channel (or one value for all); default 0
 * @example
 * ```ts
 * const img = createImage(2, 1, 3, [255, 0, 0]);
 * console.log(Array.from(img.data)); // [255, 0, 0, 255, 0, 0]
 * ```
 */
export function createImage(width: number, height: number, channels: Channels, fill: number | readonly number[] = 0): Image {
  for (const [k, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new OptionError(k, `must be a positive integer, got ${v}`);
  }
  const data = new Uint8Array(width * height * channels);
  const colour = typeof fill === 'number' ? Array<number>(channels).fill(fill) : [...fill];
  if (colour.length !== channels) throw new OptionError('fill', `has ${colour.length} values for ${channels} channels`);
  if (colour.some((v) => v !== 0)) for (let i = 0; i < data.length; i++) data[i] = colour[i % channels]!;
  return { width, height, channels, data };
}

/**
 * Throws unless `img` is a consistent {@link Image} (positive integer size, 1/3/4 channels, matching data length).
 *
 * @param img  the image to check
 * @param name what to call it in the error
 * @example
 * ```ts
 * assertImage({ width: 2, height: 2, channels: 3, data: new Uint8Array(12) }); // passes
 * ```
 */
export function assertImage(img: Image, name = 'image'): void {
  if (!Number.isInteger(img.width) || img.width <= 0 || !Number.isInteger(img.height) || img.height <= 0) {
    throw new OptionError(name, `size must be positive integers, got ${img.width}x${img.height}`);
  }
  if (img.channels !== 1 && img.channels !== 3 && img.channels !== 4) {
    throw new OptionError(name, `channels must be 1, 3 or 4, got ${String(img.channels)}`);
  }
  if (!(img.data instanceof Uint8Array) || img.data.length !== img.width * img.height * img.channels) {
    throw new ShapeMismatchError(`${name}.data`, [img.width * img.height * img.channels], [img.data.length]);
  }
}

/**
 * Gray level of an RGB colour by the ITU-R BT.601 luma weights, `round((299 R + 587 G + 114 B) / 1000)`
 * (the weights PIL's `convert('L')` uses).
 *
 * @param r red 0..255
 * @param g green 0..255
 * @param b blue 0..255
 * @example
 * ```ts
 * console.log(luma(255, 0, 0)); // 76
 * ```
 */
export function luma(r: number, g: number, b: number): number {
  return Math.floor((299 * r + 587 * g + 114 * b + 500) / 1000);
}

/**
 * Converts an image to another channel count: gray is replicated to RGB, missing alpha becomes 255, alpha is
 * dropped without compositing (the colour samples are kept as stored), and colour becomes gray by {@link luma}.
 * Returns the input itself when it already has `channels`.
 *
 * @param img      source image
 * @param channels wanted channel count
 * @example
 * ```ts
 * const rgba = toChannels(createImage(1, 1, 1, 7), 4);
 * console.log(Array.from(rgba.data)); // [7, 7, 7, 255]
 * ```
 */
export function toChannels(img: Image, channels: Channels): Image {
  assertImage(img);
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  const src = img.data;
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const i = p * img.channels;
    const o = p * channels;
    const r = src[i]!;
    const g = img.channels === 1 ? r : src[i + 1]!;
    const b = img.channels === 1 ? r : src[i + 2]!;
    const a = img.channels === 4 ? src[i + 3]! : 255;
    if (channels === 1) {
      out[o] = img.channels === 1 ? r : luma(r, g, b);
    } else {
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      if (channels === 4) out[o + 3] = a;
    }
  }
  return { width: img.width, height: img.height, channels, data: out };
}
