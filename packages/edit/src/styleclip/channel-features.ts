/**
 * StyleCLIP global directions, the expensive offline part (`GetCode.py`, `SingleChannel.py`): style statistics
 * over many samples, then for every manipulated channel c and every image the CLIP image features of the image
 * with channel c set to `mean_c ± α·std_c` (`fs`, `[K, nImg, 2, D]`). Each channel is handled independently (the
 * official script's shallow copy leaves earlier channels at their mean; see the fixture README). Results go to a
 * cache file as they are computed, so an interrupted run resumes where it stopped.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';
import { clipImageFeatures, type ClipModel } from '@semedit/core/clip';
import { clipImageInput, type ClipLossOptions } from './clip-loss.js';
import { FsCache, type FsCacheHeader } from './fs-cache.js';
import type { StyleLayer } from './global-directions.js';

/**
 * What global directions need from a StyleGAN2 generator: the style-space layout and differentiable-free passes
 * between z, W+, S and images (adapted from `@semedit/core`'s generator by `styleSpaceGenerator`).
 *
 * @example
 * ```ts
 * const img = tf.tidy(() => gen.synthesizeStyles(gen.stylesFromWPlus(gen.mapping(z, 0.7)))); // [N, H, W, 3]
 * ```
 */
export interface StyleSpaceGenerator {
  /** Style layers in style order (conv then ToRGB per resolution). */
  readonly layers: readonly StyleLayer[];
  /** `[N, z_dim]` → `[N, num_ws, w_dim]` with truncation ψ (toward `w_avg`). */
  mapping(z: tf.Tensor2D, truncationPsi: number): tf.Tensor3D;
  /** `[N, num_ws, w_dim]` → `[N, total S]` concatenated affine outputs in style order. */
  stylesFromWPlus(ws: tf.Tensor3D): tf.Tensor2D;
  /** `[N, total S]` → `[N, H, W, 3]` NHWC in [-1, 1] (noise fixed). */
  synthesizeStyles(styles: tf.Tensor2D): tf.Tensor4D;
}

/**
 * Per-channel mean and population std (ddof 0) of the styles over many latents (`GetCode` + `GetCodeMS`).
 *
 * @param gen  the generator
 * @param z    `[N, z_dim]` latents (StyleCLIP: 100 000, seed 5)
 * @param opts `truncationPsi` (StyleCLIP: 0.7; default 1), `batchSize` (default 256)
 * @returns `{ mean, std }`, each `[total S]`
 * @example
 * ```ts
 * const { mean, std } = styleStatistics(gen, z, { truncationPsi: 0.7 });
 * ```
 */
export function styleStatistics(
  gen: StyleSpaceGenerator, z: tf.Tensor2D, opts: { truncationPsi?: number; batchSize?: number } = {},
): { mean: Float32Array; std: Float32Array } {
  const psi = opts.truncationPsi ?? 1;
  const batch = opts.batchSize ?? 256;
  const [n] = z.shape;
  // Chan et al.'s parallel merge of (count, mean, M2) per batch, accumulated in float64.
  let count = 0;
  let mean = new Float64Array(0);
  let m2 = new Float64Array(0);
  for (let start = 0; start < n; start += batch) {
    const size = Math.min(batch, n - start);
    const [bm, bv] = tf.tidy(() => {
      const s = gen.stylesFromWPlus(gen.mapping(tf.slice(z, [start, 0], [size, -1]), psi));
      const { mean: mu, variance } = tf.moments(s, 0);
      return [mu.dataSync(), variance.dataSync()];
    });
    if (count === 0) (mean = new Float64Array(bm!.length), (m2 = new Float64Array(bm!.length)));
    const total = count + size;
    for (let i = 0; i < mean.length; i++) {
      const delta = bm![i]! - mean[i]!;
      mean[i] = mean[i]! + (delta * size) / total;
      m2[i] = m2[i]! + bv![i]! * size + (delta * delta * count * size) / total;
    }
    count = total;
  }
  return { mean: Float32Array.from(mean), std: Float32Array.from(m2, (v) => Math.sqrt(v / count)) };
}

/**
 * Options of {@link channelFeatures}.
 *
 * @example
 * ```ts
 * const o: ChannelFeaturesOptions = { alpha: 5, cachePath: 'fs.cache', onProgress: (d, t) => bar.update(d, t) };
 * ```
 */
export interface ChannelFeaturesOptions {
  /** ±α in units of the channel std, default 5. */
  alpha?: number;
  /** How images become CLIP input, default the `clip` variant (CLIP's normalization). */
  clipInput?: ClipLossOptions;
  /** Channels synthesized per batch (each costs `2 · nImg` images), default 4. */
  channelsPerBatch?: number;
  /** Cache file: written as channels complete; an existing file made with the same inputs is resumed. */
  cachePath?: string;
  /** Identifies the generator/CLIP pair in the cache header (e.g. their file names); a different key is refused. */
  cacheKey?: string;
  /** Called after each batch with channels done and total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Raw CLIP image features for every manipulated channel at −α and +α (`SingleChannel.py`): `fs[k, i, 0|1]` is the
 * feature of image i with channel k set to `mean_k ∓ α·std_k`, the other styles unchanged.
 *
 * @param gen        the generator
 * @param clip       CLIP
 * @param styles     `[nImg, total S]` styles of the images (StyleCLIP: 100)
 * @param stats      `{ mean, std }` from {@link styleStatistics}
 * @param manipulated indices of the manipulated layers (`manipulatedLayers(gen.layers)`)
 * @param opts       `alpha`, `clipInput`, `channelsPerBatch`, `cachePath`, `cacheKey`, `onProgress`
 * @returns `fs` as a flat `[K · nImg · 2 · D]` array with its shape
 * @example
 * ```ts
 * const fs = await channelFeatures(gen, clip, styles, stats, manipulatedLayers(gen.layers), { cachePath: 'fs.cache' });
 * const fs3 = channelDirections(tf.tensor4d(fs.data, fs.shape));
 * ```
 */
export async function channelFeatures(
  gen: StyleSpaceGenerator, clip: ClipModel, styles: tf.Tensor2D, stats: { mean: Float32Array; std: Float32Array },
  manipulated: readonly number[], opts: ChannelFeaturesOptions = {},
): Promise<{ data: Float32Array; shape: [number, number, 2, number] }> {
  const alpha = opts.alpha ?? 5;
  const per = opts.channelsPerBatch ?? 4;
  if (!Number.isInteger(per) || per < 1) throw new OptionError('channelsPerBatch', `must be an integer >= 1, got ${per}`);
  const offsets: number[] = [];
  let total = 0;
  for (const l of gen.layers) (offsets.push(total), (total += l.dim));
  if (styles.rank !== 2 || styles.shape[1] !== total) throw new ShapeMismatchError('styles', [null, total], styles.shape);
  const channels = manipulated.flatMap((li) => Array.from({ length: gen.layers[li]!.dim }, (_, c) => offsets[li]! + c));
  const nImg = styles.shape[0];
  const dim = clip.config.projectionDim;
  const header: FsCacheHeader = {
    layers: manipulated.map((i) => gen.layers[i]!.name), channels: channels.length, nImg, dim, alpha,
    key: opts.cacheKey ?? '', inputs: FsCache.fingerprint([styles.dataSync() as Float32Array, stats.mean, stats.std]),
  };
  const cache = opts.cachePath ? await FsCache.open(opts.cachePath, header) : FsCache.inMemory(header);
  try {
    opts.onProgress?.(cache.done, channels.length);
    while (cache.done < channels.length) {
      const batch = channels.slice(cache.done, cache.done + per);
      const feats = tf.tidy(() => {
        // Rows: for each channel, for each image, (−α, +α). Set the channel: s·(1 − e_c) + e_c·(mean_c ± α·std_c).
        const rows = batch.flatMap((c) => [c, c]);
        const values = batch.flatMap((c) => [-alpha, alpha].map((a) => stats.mean[c]! + a * stats.std[c]!));
        const onehot = tf.oneHot(tf.tensor1d(rows, 'int32'), total).asType('float32'); // [2b, total]
        const set = tf.mul(onehot, tf.reshape(tf.tensor1d(values), [-1, 1]));
        const keep = tf.sub(1, onehot);
        // [2b, 1, total] x [1, nImg, total] -> [2b, nImg, total] -> order [b, nImg, 2, total].
        const s = tf.add(tf.mul(tf.expandDims(keep, 1), tf.expandDims(styles, 0)), tf.expandDims(set, 1));
        const ordered = tf.transpose(tf.reshape(s, [batch.length, 2, nImg, total]), [0, 2, 1, 3]);
        const img = gen.synthesizeStyles(tf.reshape(ordered, [-1, total]) as tf.Tensor2D);
        return clipImageFeatures(clip.params, clip.config, clipImageInput(clip, img, { variant: 'clip', ...opts.clipInput }));
      });
      const data = (await feats.data()) as Float32Array;
      feats.dispose();
      await cache.append(data);
      opts.onProgress?.(cache.done, channels.length);
    }
    return { data: await cache.readAll(), shape: [channels.length, nImg, 2, dim] };
  } finally {
    await cache.close();
  }
}
