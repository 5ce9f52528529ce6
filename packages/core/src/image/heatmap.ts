/**
 * Scalar maps (attention maps, masks, error maps) to viewable images through a colour map.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { ImageValueError } from './errors.js';
import type { Image } from './image.js';

/** Colour maps: `'gray'` (1-channel result), `'viridis'` and `'jet'` (RGB results). */
export type Colormap = 'gray' | 'viridis' | 'jet';

/** A row-major 2-D map of numbers without a tensor. */
export interface Map2D {
  width: number;
  height: number;
  /** `width * height` values, row-major. */
  data: ArrayLike<number>;
}

/** Options of {@link heatmapToImage}. */
export interface HeatmapOptions {
  /** Colour map; default `'viridis'`. */
  colormap?: Colormap;
  /**
   * `'minmax'` (default): map min..max to 0..1 (a constant map becomes all 0); `'none'`: values are already
   * in 0..1 and are clamped to it.
   */
  normalize?: 'minmax' | 'none';
  /** What to call the map in errors. */
  name?: string;
}

/**
 * Viridis (matplotlib's default colour map) sampled at 9 evenly spaced points, as 0xRRGGBB; {@link colormapRgb}
 * interpolates linearly between them, which stays within a few levels of the full 256-entry table.
 */
const VIRIDIS_STOPS = [0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21908c, 0x27ad81, 0x5dc863, 0xaadc32, 0xfde725];

const clamp01 = (v: number): number => Math.min(Math.max(v, 0), 1);

/**
 * The colour of a value `t` in 0..1 (clamped) under a colour map, as `[r, g, b]` 0..255.
 *
 * - gray: `round(255 t)` in all three channels;
 * - jet: `r = clamp(1.5 - |4t - 3|)`, `g = clamp(1.5 - |4t - 2|)`, `b = clamp(1.5 - |4t - 1|)`, times 255, rounded;
 * - viridis: linear interpolation of the 9 stops above, rounded.
 *
 * @param t    value in 0..1
 * @param name colour map
 * @example
 * ```ts
 * console.log(colormapRgb(0, 'viridis'), colormapRgb(0.5, 'jet')); // [68, 1, 84] [128, 255, 128]
 * ```
 */
export function colormapRgb(t: number, name: Colormap): [number, number, number] {
  const x = clamp01(t);
  if (name === 'gray') {
    const v = Math.round(255 * x);
    return [v, v, v];
  }
  if (name === 'jet') {
    const f = (centre: number) => Math.round(255 * clamp01(1.5 - Math.abs(4 * x - centre)));
    return [f(3), f(2), f(1)];
  }
  if (name !== 'viridis') throw new OptionError('colormap', `must be gray, viridis or jet, got ${String(name)}`);
  const pos = x * (VIRIDIS_STOPS.length - 1);
  const i = Math.min(Math.floor(pos), VIRIDIS_STOPS.length - 2);
  const frac = pos - i;
  const a = VIRIDIS_STOPS[i]!;
  const b = VIRIDIS_STOPS[i + 1]!;
  const ch = (shift: number) => {
    const ca = (a >> shift) & 0xff;
    const cb = (b >> shift) & 0xff;
    return Math.round(ca + (cb - ca) * frac);
  };
  return [ch(16), ch(8), ch(0)];
}

/**
 * Renders a 2-D map as an image: gray gives a 1-channel image, viridis and jet RGB.
 *
 * @param map  a tensor `[H, W]` (read synchronously, not disposed) or a {@link Map2D}
 * @param opts colour map, normalization, name for errors
 * @throws ImageValueError if the map holds NaN or infinite values
 * @example
 * ```ts
 * const img = heatmapToImage(tf.tensor2d([[0, 1], [2, 3]]), { colormap: 'gray' });
 * console.log(Array.from(img.data)); // [0, 85, 170, 255]
 * ```
 */
export function heatmapToImage(map: tf.Tensor | Map2D, opts: HeatmapOptions = {}): Image {
  const name = opts.name ?? 'heatmap';
  let width: number;
  let height: number;
  let values: ArrayLike<number>;
  if (map instanceof tf.Tensor) {
    if (map.rank !== 2) throw new ShapeMismatchError(name, [null, null], map.shape);
    [height, width] = map.shape as [number, number];
    values = map.dataSync();
  } else {
    ({ width, height } = map);
    values = map.data;
    if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
      throw new OptionError(name, `size must be positive integers, got ${width}x${height}`);
    }
    if (values.length !== width * height) throw new ShapeMismatchError(`${name}.data`, [width * height], [values.length]);
  }
  const normalize = opts.normalize ?? 'minmax';
  if (normalize !== 'minmax' && normalize !== 'none') throw new OptionError('normalize', `must be 'minmax' or 'none', got ${String(normalize)}`);
  const cmap = opts.colormap ?? 'viridis';
  let lo = Infinity;
  let hi = -Infinity;
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (nan || inf) throw new ImageValueError(name, nan, inf, values.length);
  const span = hi - lo;
  const channels = cmap === 'gray' ? 1 : 3;
  colormapRgb(0, cmap); // validates the colour map name before allocating
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const t = normalize === 'none' ? v : span > 0 ? (v - lo) / span : 0;
    const rgb = colormapRgb(t, cmap);
    if (channels === 1) data[i] = rgb[0];
    else data.set(rgb, i * 3);
  }
  return { width, height, channels, data };
}
