/**
 * The shapes data set: examples (scene, caption, image, segmentation, labels) by index, and batches of them as
 * tensors for training. Deterministic: an example depends on (seed, index, split, size) only.
 *
 * Images are 64x64 by default: a small star is still a star at that size (about 14 pixels across), and with the
 * VAE's factor-4 latents the UNet attends over 16x16 and 8x8 maps, fine enough for Prompt-to-Prompt's cross-attention
 * maps to find an object and for LocalBlend's mask to keep the background (a 16x16 mask cell is 4x4 pixels).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import { imagesToTensor } from '@semedit/core/image';
import { captionOf, captionVariants } from './caption.js';
import { renderScene } from './render.js';
import { COLOUR_NAMES, POSITIONS, SHAPES, SIZES, sceneAt, type Scene, type Split } from './scene.js';

/**
 * The default image side in pixels.
 *
 * @example
 * ```ts
 * WORLD_SIZE; // 64
 * ```
 */
export const WORLD_SIZE = 64;

/**
 * An object's attributes as class indices into `SHAPES`, `COLOUR_NAMES`, `SIZES`, `POSITIONS`.
 *
 * @example
 * ```ts
 * const l: ObjectLabels = { shape: 3, colour: 0, size: 1, position: 0 }; // big red star on the left
 * ```
 */
export interface ObjectLabels {
  shape: number;
  colour: number;
  size: number;
  position: number;
}

/**
 * One example of the data set.
 *
 * @example
 * ```ts
 * const e = shapesExample(7, 0);
 * e.caption; // e.g. 'a big red circle on the left on a blue background'
 * ```
 */
export interface ShapesExample {
  index: number;
  scene: Scene;
  caption: string;
  /** RGB pixels, `size` x `size`, row-major. */
  pixels: Uint8Array;
  /** Per pixel: 0 background, i + 1 object i. */
  mask: Uint8Array;
  /** Per object, its attributes as class indices. */
  labels: ObjectLabels[];
  /** The background colour's index in `COLOUR_NAMES`. */
  background: number;
}

/**
 * Options of {@link shapesExample} and {@link shapesBatch}.
 *
 * @example
 * ```ts
 * const o: ExampleOptions = { split: 'eval', size: 64 };
 * ```
 */
export interface ExampleOptions {
  /** `train` (default) or `eval` (held-out combinations only). */
  split?: Split;
  /** Image side in pixels (default {@link WORLD_SIZE}). */
  size?: number;
  /** Share of two-object scenes (default 0.3). */
  twoObjects?: number;
  /** Caption variant: `canonical` (template 0) or `varied` (by index; default for `train`). */
  captions?: 'canonical' | 'varied';
}

/**
 * The labels of a scene's objects as class indices.
 *
 * @example
 * ```ts
 * sceneLabels(scene)[0]!.shape; // 3 for a star
 * ```
 */
export function sceneLabels(scene: Scene): ObjectLabels[] {
  return scene.objects.map((o) => ({
    shape: SHAPES.indexOf(o.shape),
    colour: COLOUR_NAMES.indexOf(o.colour),
    size: SIZES.indexOf(o.size),
    position: POSITIONS.indexOf(o.position),
  }));
}

/**
 * Example `index` of the data set made from `seed`.
 *
 * @param seed  the data set's seed
 * @param index the example's index (>= 0)
 * @param opts  split, image size, two-object share, caption variety
 * @returns scene, caption, pixels, segmentation and labels
 * @throws OptionError for bad seeds, indices, sizes or options
 * @example
 * ```ts
 * shapesExample(7, 3, { split: 'eval' }).pixels.length; // 12288
 * ```
 */
export function shapesExample(seed: number, index: number, opts: ExampleOptions = {}): ShapesExample {
  const split = opts.split ?? 'train';
  const scene = sceneAt(seed, index, { split, ...(opts.twoObjects !== undefined ? { twoObjects: opts.twoObjects } : {}) });
  const mode = opts.captions ?? (split === 'train' ? 'varied' : 'canonical');
  if (mode !== 'canonical' && mode !== 'varied') throw new OptionError('captions', `must be 'canonical' or 'varied', got ${String(mode)}`);
  const variant = mode === 'varied' ? index % captionVariants(scene.objects.length) : 0;
  const { image, mask } = renderScene(scene, opts.size ?? WORLD_SIZE);
  return { index, scene, caption: captionOf(scene, variant), pixels: image.data, mask, labels: sceneLabels(scene), background: COLOUR_NAMES.indexOf(scene.background) };
}

/**
 * A batch of consecutive examples as tensors.
 *
 * @example
 * ```ts
 * const b = shapesBatch(7, 0, 16);
 * b.images.shape; // [16, 64, 64, 3]
 * b.dispose();
 * ```
 */
export interface ShapesBatch {
  examples: ShapesExample[];
  captions: string[];
  /** `[B, H, W, 3]` in [-1, 1] (diffusers' image convention). */
  images: tf.Tensor4D;
  /** `[B, H, W]` int32 segmentation. */
  masks: tf.Tensor3D;
  dispose(): void;
}

/**
 * Examples `start` to `start + count - 1` as a batch.
 *
 * @param seed  the data set's seed
 * @param start the first index
 * @param count how many (>= 1)
 * @param opts  as {@link shapesExample}
 * @returns the examples and their images and masks as tensors (the caller disposes them)
 * @example
 * ```ts
 * const b = shapesBatch(7, 32, 16, { split: 'train' });
 * b.captions.length; // 16
 * b.dispose();
 * ```
 */
export function shapesBatch(seed: number, start: number, count: number, opts: ExampleOptions = {}): ShapesBatch {
  if (!Number.isInteger(count) || count < 1) throw new OptionError('count', `must be an integer >= 1, got ${count}`);
  const examples = Array.from({ length: count }, (_, i) => shapesExample(seed, start + i, opts));
  const size = opts.size ?? WORLD_SIZE;
  const mk = new Int32Array(count * size * size);
  examples.forEach((e, b) => mk.set(e.mask, b * size * size));
  const images = imagesToTensor(examples.map((e) => ({ width: size, height: size, channels: 3 as const, data: e.pixels })), { range: '-1-1' });
  const masks = tf.tensor3d(mk, [count, size, size], 'int32');
  return { examples, captions: examples.map((e) => e.caption), images, masks, dispose: () => tf.dispose([images, masks]) };
}
