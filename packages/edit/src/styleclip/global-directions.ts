/**
 * StyleCLIP global directions, the per-edit (cheap) part (`global_directions/MapTS.py`, `SingleChannel.py`):
 * - `Δi_c` ({@link channelDirections}, `GetFs`): per style channel, the unit CLIP-space direction its ±α change
 *   produces, averaged over images;
 * - `Δt` ({@link textDirection}, `GetDt`): target minus neutral text embedding, each averaged over templates;
 * - relevance `r_c = Δi_c · Δt`, and the manipulation direction ({@link globalBoundary}, `GetBoundary` + `SplitS`):
 *   zero the channels with |r| < β, divide by max |r|, scale each channel by its std over the style space;
 * - the edit `s' = s + α · Δs` ({@link applyGlobalDirection}, `MSCode`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, SemeditError, ShapeMismatchError } from '@semedit/core';
import { l2Normalize, type ClipModel, type TokenIdsInput } from '@semedit/core/clip';

/**
 * One layer of the style space S: the affine output feeding a synthesis layer, in style order.
 *
 * @example
 * ```ts
 * const l: StyleLayer = { name: 'synthesis.b8.conv0', dim: 512, toRgb: false, resolution: 8 };
 * ```
 */
export interface StyleLayer {
  /** Module path, e.g. `synthesis.b16.torgb`. */
  name: string;
  /** Channels (the layer's `in_channels`). */
  dim: number;
  /** ToRGB styles are never manipulated by global directions. */
  toRgb: boolean;
  /** Output resolution of the block. */
  resolution: number;
}

/**
 * The layers global directions manipulate: every non-ToRGB layer up to `maxResolution` (StyleCLIP: the 26-entry
 * FFHQ list up to index 16, i.e. 4…128 px: 5 376 channels).
 *
 * @param layers        the style space layout, in style order
 * @param maxResolution largest block resolution to include, default 128
 * @returns indices into `layers`
 * @example
 * ```ts
 * manipulatedLayers(layers).length; // 11 for FFHQ 1024
 * ```
 */
export function manipulatedLayers(layers: readonly StyleLayer[], maxResolution = 128): number[] {
  return layers.flatMap((l, i) => (!l.toRgb && l.resolution <= maxResolution ? [i] : []));
}

/**
 * `GetFs`: per-channel unit directions from raw CLIP image features at −α and +α: normalize each feature, take
 * (+α) − (−α), normalize, average over images, normalize.
 *
 * @param fs `[K, nImg, 2, D]` raw image features (index 0 at −α, 1 at +α)
 * @returns `[K, D]` (`fs3`)
 * @example
 * ```ts
 * const fs3 = tf.tidy(() => channelDirections(fs)); // [5376, 512]
 * ```
 */
export function channelDirections(fs: tf.Tensor4D): tf.Tensor2D {
  if (fs.rank !== 4 || fs.shape[2] !== 2) throw new ShapeMismatchError('fs', [null, null, 2, null], fs.shape);
  return tf.tidy(() => {
    const n = l2Normalize(fs);
    const [neg, pos] = tf.unstack(n, 2) as [tf.Tensor3D, tf.Tensor3D];
    return l2Normalize(tf.mean(l2Normalize(tf.sub(pos, neg)), 1)) as tf.Tensor2D;
  });
}

/**
 * The normalized mean of normalized text features (`zeroshot_classifier` for one class).
 *
 * @param clip     CLIP
 * @param tokenIds `[templates, L]` token ids of one class text under every template
 * @returns `[D]`
 * @example
 * ```ts
 * const t = classEmbedding(clip, ids); // unit vector
 * ```
 */
export function classEmbedding(clip: ClipModel, tokenIds: TokenIdsInput): tf.Tensor1D {
  return tf.tidy(() => {
    const f = clip.getTextFeatures(tokenIds);
    const mean = tf.mean(l2Normalize(f), 0);
    return tf.div(mean, tf.norm(mean)) as tf.Tensor1D;
  });
}

/**
 * `GetDt`: the CLIP text direction `Δt = normalize(t_target − t_neutral)`, each class averaged over its templates.
 *
 * @param clip       CLIP
 * @param targetIds  `[templates, L]` token ids of the target text (see `templatePrompts`)
 * @param neutralIds `[templates, L]` token ids of the neutral text
 * @returns `[D]` unit vector
 * @example
 * ```ts
 * const dt = textDirection(clip, encode(templatePrompts('smiling face')), encode(templatePrompts('face')));
 * ```
 */
export function textDirection(clip: ClipModel, targetIds: TokenIdsInput, neutralIds: TokenIdsInput): tf.Tensor1D {
  return tf.tidy(() => {
    const d = tf.sub(classEmbedding(clip, targetIds), classEmbedding(clip, neutralIds));
    return tf.div(d, tf.norm(d)) as tf.Tensor1D;
  });
}

/**
 * A global manipulation direction in S (what {@link globalBoundary} returns).
 *
 * @example
 * ```ts
 * const { boundary, numChannels } = globalBoundary(relevance, 0.15, layout);
 * ```
 */
export interface GlobalBoundary {
  /** `[K]` relevance with |r| < β zeroed, divided by max |r| (`ds_imp`). */
  dsImp: Float32Array;
  /** `[total S]` direction in style order: `dsImp · code_std` on manipulated layers, 0 elsewhere. */
  boundary: Float32Array;
  /** Channels kept (|r| ≥ β). */
  numChannels: number;
}

/**
 * The style-space layout {@link globalBoundary} scatters into.
 *
 * @example
 * ```ts
 * const layout: StyleSpaceLayout = { layers, manipulated: manipulatedLayers(layers), codeStd };
 * ```
 */
export interface StyleSpaceLayout {
  layers: readonly StyleLayer[];
  /** Indices of the manipulated layers; the relevance vector is their channels concatenated in this order. */
  manipulated: readonly number[];
  /** `[total S]` per-channel std of the styles. */
  codeStd: Float32Array;
}

/**
 * `GetBoundary` + `SplitS(if_std=True)`: threshold the relevance at β, scale to max |r| = 1, multiply by each
 * channel's std and scatter into the full style vector (zeros for ToRGB and unmanipulated layers).
 *
 * @param relevance `[K]` `fs3 @ dt`
 * @param beta      disentanglement threshold (StyleCLIP UI: 0.08–0.3, default 0.15)
 * @param layout    layers, manipulated layers, `codeStd`
 * @throws OptionError when β exceeds max |r| (the reference divides 0 by 0 and yields NaN)
 * @example
 * ```ts
 * const { boundary, numChannels } = globalBoundary(relevance, 0.15, layout); // numChannels ~10-200 for FFHQ
 * ```
 */
export function globalBoundary(relevance: Float32Array, beta: number, layout: StyleSpaceLayout): GlobalBoundary {
  const offsets: number[] = [];
  let total = 0;
  for (const l of layout.layers) (offsets.push(total), (total += l.dim));
  if (layout.codeStd.length !== total) throw new ShapeMismatchError('codeStd', [total], [layout.codeStd.length]);
  const k = layout.manipulated.reduce((n, i) => n + layout.layers[i]!.dim, 0);
  if (relevance.length !== k) throw new ShapeMismatchError('relevance', [k], [relevance.length]);
  if (!(beta >= 0)) throw new OptionError('beta', `must be >= 0, got ${beta}`);
  const dsImp = new Float32Array(k);
  let max = 0;
  let numChannels = 0;
  relevance.forEach((r, i) => {
    if (Math.abs(r) < beta) return;
    dsImp[i] = r;
    numChannels += 1;
    max = Math.max(max, Math.abs(r));
  });
  if (numChannels === 0) {
    const top = relevance.reduce((m, r) => Math.max(m, Math.abs(r)), 0);
    throw new OptionError('beta', `${beta} is above the largest |relevance| ${top.toPrecision(4)}: no channel is kept`);
  }
  for (let i = 0; i < k; i++) dsImp[i] = dsImp[i]! / max;
  const boundary = new Float32Array(total);
  let at = 0;
  for (const li of layout.manipulated) {
    const { dim } = layout.layers[li]!;
    for (let c = 0; c < dim; c++) boundary[offsets[li]! + c] = dsImp[at + c]! * layout.codeStd[offsets[li]! + c]!;
    at += dim;
  }
  return { dsImp, boundary, numChannels };
}

/**
 * `MSCode`: the edited styles `s + α · Δs`.
 *
 * @param styles   `[B, total S]` concatenated styles
 * @param boundary `[total S]` direction (`globalBoundary(...).boundary`)
 * @param alpha    manipulation strength (StyleCLIP UI: −10…10, default 4.1; the sign picks the direction)
 * @returns `[B, total S]`
 * @example
 * ```ts
 * const edited = applyGlobalDirection(styles, boundary, 4.1);
 * ```
 */
export function applyGlobalDirection(styles: tf.Tensor2D, boundary: Float32Array, alpha: number): tf.Tensor2D {
  if (styles.rank !== 2 || styles.shape[1] !== boundary.length) throw new ShapeMismatchError('styles', [null, boundary.length], styles.shape);
  if (!Number.isFinite(alpha)) throw new OptionError('alpha', `must be finite, got ${alpha}`);
  return tf.tidy(() => tf.add(styles, tf.mul(tf.tensor1d(boundary), alpha)));
}

/**
 * Relevance of every manipulated channel to a text direction: `fs3 @ dt`.
 *
 * @param fs3 `[K, D]` channel directions
 * @param dt  `[D]` text direction
 * @returns `[K]`
 * @example
 * ```ts
 * const r = channelRelevance(fs3, dt);
 * ```
 */
export function channelRelevance(fs3: tf.Tensor2D, dt: tf.Tensor1D): Float32Array {
  if (fs3.shape[1] !== dt.shape[0]) throw new SemeditError('E_SHAPE', `fs3 has ${fs3.shape[1]} features but dt has ${dt.shape[0]}`);
  const r = tf.tidy(() => tf.squeeze(tf.matMul(fs3, tf.reshape(dt, [-1, 1])), [1]));
  const out = r.dataSync() as Float32Array;
  r.dispose();
  return out;
}
