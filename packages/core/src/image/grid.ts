/**
 * Contact sheets: tiles of possibly different sizes arranged in a table, with optional text labels under them.
 *
 * Layout: tile i goes to row `floor(i / cols)`, column `i % cols`. A column is as wide as its widest tile (or
 * label), a row as tall as its tallest tile plus the label band. Tiles sit at the top-left of their cell;
 * `padding` pixels of background separate cells and surround the sheet.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import { tensorToImages } from './convert.js';
import type { PixelRange } from './convert.js';
import { drawText, GLYPH_HEIGHT, measureText } from './font.js';
import { assertImage, createImage, luma, toChannels } from './image.js';
import type { Channels, Image } from './image.js';
import { writePng } from './png.js';

/** Options of {@link layoutGrid}. */
export interface GridLayoutOptions {
  /** Tiles per row; default `ceil(sqrt(n))`. */
  cols?: number;
  /** Background pixels between cells and around the sheet; default 2. */
  padding?: number;
  /** One label per tile, drawn under it (ASCII 32..126); default none. */
  labels?: readonly string[];
  /** Integer scale of the 5x7 label font; default 1. */
  labelScale?: number;
}

/** Options of {@link makeGrid} and {@link writeGrid}. */
export interface GridOptions extends GridLayoutOptions {
  /** Background colour: a gray level or `[r, g, b]` / `[r, g, b, a]` (an alpha makes the sheet RGBA); default 0. */
  background?: number | readonly number[];
  /** Label colour, same forms as `background`; default black on a light background, white on a dark one. */
  labelColor?: number | readonly number[];
  /** Value range of a tensor input (required when `images` is a tensor). */
  range?: PixelRange;
}

/** Where {@link layoutGrid} puts things: sheet size, each tile's top-left corner and each label's. */
export interface GridLayout {
  width: number;
  height: number;
  cols: number;
  rows: number;
  /** Top-left corner of each tile. */
  tiles: { x: number; y: number }[];
  /** Top-left corner of each label's text (empty without labels). */
  labels: { x: number; y: number }[];
}

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new OptionError(name, `must be a non-negative integer, got ${v}`);
  return v;
}

/**
 * Computes the geometry of a grid of tiles with the given sizes (see the module comment for the rules).
 *
 * @param sizes `{ width, height }` of each tile, in order
 * @param opts  columns, padding, labels and label scale
 * @example
 * ```ts
 * const g = layoutGrid([{ width: 4, height: 4 }, { width: 6, height: 2 }], { cols: 2, padding: 1 });
 * console.log(g.width, g.height, g.tiles[1]); // 13 6 { x: 6, y: 1 }
 * ```
 */
export function layoutGrid(sizes: readonly { width: number; height: number }[], opts: GridLayoutOptions = {}): GridLayout {
  const n = sizes.length;
  if (n === 0) throw new OptionError('images', 'a grid needs at least one image');
  const cols = Math.min(opts.cols ?? Math.ceil(Math.sqrt(n)), n);
  if (!Number.isInteger(cols) || cols < 1) throw new OptionError('cols', `must be a positive integer, got ${opts.cols}`);
  const rows = Math.ceil(n / cols);
  const pad = nonNegativeInt('padding', opts.padding ?? 2);
  const scale = opts.labelScale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new OptionError('labelScale', `must be a positive integer, got ${scale}`);
  const labels = opts.labels;
  if (labels && labels.length !== n) throw new OptionError('labels', `has ${labels.length} entries for ${n} images`);
  const band = labels ? (GLYPH_HEIGHT + 2) * scale : 0;
  const colW = Array<number>(cols).fill(0);
  const tileH = Array<number>(rows).fill(0);
  sizes.forEach((s, i) => {
    const c = i % cols;
    const r = Math.floor(i / cols);
    colW[c] = Math.max(colW[c]!, s.width, labels ? measureText(labels[i]!, scale) : 0);
    tileH[r] = Math.max(tileH[r]!, s.height);
  });
  const colX = [pad];
  for (let c = 1; c < cols; c++) colX.push(colX[c - 1]! + colW[c - 1]! + pad);
  const rowY = [pad];
  for (let r = 1; r < rows; r++) rowY.push(rowY[r - 1]! + tileH[r - 1]! + band + pad);
  const tiles = sizes.map((_, i) => ({ x: colX[i % cols]!, y: rowY[Math.floor(i / cols)]! }));
  const labelPos = labels ? tiles.map((t, i) => ({ x: t.x, y: t.y + tileH[Math.floor(i / cols)]! + scale })) : [];
  const width = colX[cols - 1]! + colW[cols - 1]! + pad;
  const height = rowY[rows - 1]! + tileH[rows - 1]! + band + pad;
  return { width, height, cols, rows, tiles, labels: labelPos };
}

/** A colour option as samples of a `channels`-channel image. */
function colourFor(option: string, v: number | readonly number[], channels: Channels): number[] {
  const vals = typeof v === 'number' ? [v] : [...v];
  if (![1, 3, 4].includes(vals.length) || vals.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) {
    throw new OptionError(option, `must be a gray level or [r, g, b] / [r, g, b, a] of integers 0..255, got ${JSON.stringify(v)}`);
  }
  const [r, g, b, a] = vals.length === 1 ? [vals[0]!, vals[0]!, vals[0]!, 255] : [vals[0]!, vals[1]!, vals[2]!, vals[3] ?? 255];
  if (channels === 1) return [vals.length === 1 ? r : luma(r, g, b)];
  return channels === 3 ? [r, g, b] : [r, g, b, a];
}

/**
 * Arranges images into one contact-sheet image, optionally labelling each tile with the built-in 5x7 font.
 * The sheet has the largest channel count among the tiles (tiles are converted up with `toChannels`).
 *
 * @param images images (any sizes), or a batch tensor `[N, H, W, C]` with `opts.range`
 * @param opts   layout, colours, labels and the tensor range
 * @example
 * ```ts
 * const sheet = makeGrid([a, b, c], { cols: 3, padding: 4, background: 255, labels: ['src', 'edit', 'mask'] });
 * console.log(sheet.width, sheet.height); // 208 81 for three 64x64 tiles
 * ```
 */
export function makeGrid(images: readonly Image[] | tf.Tensor4D, opts: GridOptions = {}): Image {
  let tiles: readonly Image[];
  if (Array.isArray(images)) {
    tiles = images as readonly Image[];
  } else {
    if (!opts.range) throw new OptionError('range', 'is required when the grid is made from a tensor');
    tiles = tensorToImages(images as tf.Tensor4D, { range: opts.range, name: 'images' });
  }
  tiles.forEach((t, i) => assertImage(t, `images[${i}]`));
  const layout = layoutGrid(tiles, opts);
  const bgOpt = opts.background ?? 0;
  const wantsAlpha = Array.isArray(bgOpt) && bgOpt.length === 4;
  const channels = Math.max(wantsAlpha ? 4 : 1, ...tiles.map((t) => t.channels)) as Channels;
  const bg = colourFor('background', bgOpt, channels);
  const sheet = createImage(layout.width, layout.height, channels, bg);
  tiles.forEach((tile, i) => {
    const src = toChannels(tile, channels);
    const { x, y } = layout.tiles[i]!;
    const rowBytes = src.width * channels;
    for (let r = 0; r < src.height; r++) {
      const from = r * rowBytes;
      sheet.data.set(src.data.subarray(from, from + rowBytes), ((y + r) * sheet.width + x) * channels);
    }
  });
  if (opts.labels) {
    const bgRgb = colourFor('background', bgOpt, 3);
    const fg = colourFor('labelColor', opts.labelColor ?? (luma(bgRgb[0]!, bgRgb[1]!, bgRgb[2]!) >= 128 ? 0 : 255), channels);
    opts.labels.forEach((text, i) => {
      const at = layout.labels[i]!;
      drawText(sheet, text, at.x, at.y, { color: fg, scale: opts.labelScale ?? 1 });
    });
  }
  return sheet;
}

/**
 * Makes a grid with {@link makeGrid} and writes it as a PNG (atomically).
 *
 * @param path   destination PNG file
 * @param images images, or a batch tensor `[N, H, W, C]` with `opts.range`
 * @param opts   as for {@link makeGrid}
 * @example
 * ```ts
 * await writeGrid('samples.png', latentsDecoded, { range: '-1-1', cols: 4 });
 * ```
 */
export async function writeGrid(path: string, images: readonly Image[] | tf.Tensor4D, opts: GridOptions = {}): Promise<void> {
  await writePng(path, makeGrid(images, opts));
}
