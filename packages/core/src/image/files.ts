/**
 * Image files <-> tensors in one call: read a PNG as an NHWC tensor, write an image tensor (or a batch, as
 * several files or one grid) as PNG.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { extname } from 'node:path';
import { OptionError } from '../errors.js';
import { imageToTensor, tensorToImages } from './convert.js';
import type { ImageToTensorOptions, PixelRange } from './convert.js';
import { makeGrid } from './grid.js';
import type { GridOptions } from './grid.js';
import type { Channels } from './image.js';
import { readPng, writePng } from './png.js';

/** Options of {@link readImageTensor}. */
export interface ReadImageTensorOptions extends ImageToTensorOptions {
  /** Convert the decoded image to this channel count first (e.g. 3 to read a gray PNG as RGB). */
  channels?: Channels;
}

/** Options of {@link writeImageTensor}. */
export interface WriteImageTensorOptions {
  /** Range the tensor values are in. */
  range: PixelRange;
  /** For a batch: write one grid image (with these grid options, or defaults for `true`) instead of N files. */
  grid?: boolean | Omit<GridOptions, 'range'>;
}

/**
 * Reads a PNG file as a float32 tensor `[1, H, W, C]`.
 *
 * @param path PNG file
 * @param opts value `range`, `alpha` handling, optional `channels` conversion
 * @returns tensor `[1, H, W, C]` (the caller owns it)
 * @throws ImageFormatError naming the file if it is not a valid PNG
 * @example
 * ```ts
 * const x = await readImageTensor('init.png', { range: '-1-1', channels: 3 });
 * console.log(x.shape); // [1, 512, 512, 3]
 * ```
 */
export async function readImageTensor(path: string, opts: ReadImageTensorOptions): Promise<tf.Tensor4D> {
  const img = await readPng(path, opts.channels === undefined ? {} : { channels: opts.channels });
  return imageToTensor(img, opts);
}

/**
 * The file names a batch of `n` images is written to: `{i}` in `path` is replaced by the index, otherwise
 * `-{i}` goes before the extension (`out.png` -> `out-0.png`, `out-1.png`, ...). One image keeps `path`.
 *
 * @param path the path given by the user
 * @param n    number of images
 * @example
 * ```ts
 * console.log(batchPaths('out.png', 2)); // ['out-0.png', 'out-1.png']
 * ```
 */
export function batchPaths(path: string, n: number): string[] {
  if (n === 1 && !path.includes('{i}')) return [path];
  const ext = extname(path);
  const stem = path.slice(0, path.length - ext.length);
  return Array.from({ length: n }, (_, i) => (path.includes('{i}') ? path.replaceAll('{i}', String(i)) : `${stem}-${i}${ext}`));
}

/**
 * Writes an image tensor `[H, W, C]`, `[1, H, W, C]` or a batch `[N, H, W, C]` as PNG file(s), atomically.
 * All values are checked before anything is written, so a NaN in image 3 leaves no files behind.
 *
 * @param path destination (see {@link batchPaths} for batches)
 * @param t    image tensor in `opts.range`; not disposed
 * @param opts value range; `grid` to write a batch as one contact sheet
 * @returns the paths written
 * @throws ImageValueError if the tensor holds NaN or infinite values
 * @example
 * ```ts
 * const files = await writeImageTensor('sample.png', images, { range: '-1-1' }); // images: [2, 64, 64, 3]
 * console.log(files); // ['sample-0.png', 'sample-1.png']
 * ```
 */
export async function writeImageTensor(path: string, t: tf.Tensor, opts: WriteImageTensorOptions): Promise<string[]> {
  const images = tensorToImages(t, { range: opts.range, name: path });
  if (opts.grid) {
    if (typeof opts.grid === 'object' && 'range' in opts.grid) throw new OptionError('grid.range', 'give the range once, as opts.range');
    await writePng(path, makeGrid(images, opts.grid === true ? {} : opts.grid));
    return [path];
  }
  const paths = batchPaths(path, images.length);
  for (let i = 0; i < images.length; i++) await writePng(paths[i]!, images[i]!);
  return paths;
}
