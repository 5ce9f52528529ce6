/**
 * The full CLIP model (`CLIPModel`): image and text features in the joint space, L2-normalized, and the
 * similarity logits `exp(logit_scale) · text_n @ image_nᵀ`. The functions are differentiable with respect to the
 * pixels (StyleCLIP back-propagates through them); `tf.grad` needs tfjs-core's gradient registrations, which
 * `initBackend` loads (or `import '@tensorflow/tfjs-core/dist/register_all_gradients'`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError } from '../errors.js';
import type { ResolvedClipConfig } from './config.js';
import { disposeClipParams, type ClipModelParams } from './params.js';
import { clipTextTransformer, tidyOutputs, type TokenIdsInput } from './text-model.js';
import { clipVisionTransformer } from './vision-model.js';

/**
 * What {@link ClipModel.forward} returns (transformers' `CLIPOutput`, embeddings already normalized).
 *
 * @example
 * ```ts
 * const { logitsPerImage } = clip.forward(ids, pixels); // [N_images, N_texts]
 * ```
 */
export interface ClipOutput {
  /** `[N, T]` = `logitsPerText`ᵀ. */
  logitsPerImage: tf.Tensor2D;
  /** `[T, N]` = `exp(logit_scale) · textEmbeds @ imageEmbedsᵀ`. */
  logitsPerText: tf.Tensor2D;
  /** L2-normalized text features `[T, projection_dim]`. */
  textEmbeds: tf.Tensor2D;
  /** L2-normalized image features `[N, projection_dim]`. */
  imageEmbeds: tf.Tensor2D;
}

/**
 * Divides each row by its L2 norm (`x / x.norm(p=2, dim=-1, keepdim=True)`, no epsilon, as transformers).
 *
 * @param x `[rows, D]`
 * @example
 * ```ts
 * l2Normalize(tf.tensor2d([[3, 4]])); // [[0.6, 0.8]]
 * ```
 */
export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.div(x, tf.sqrt(tf.sum(tf.square(x), -1, true))) as T;
}

/**
 * CLIP's similarity logits from features: normalizes both and scales the cosine by `exp(logitScale)`.
 *
 * @param imageFeatures `[N, D]` projected image features (normalized or not)
 * @param textFeatures  `[T, D]` projected text features (normalized or not)
 * @param logitScale    the stored log scale (`logit_scale`, a scalar), e.g. `params.logit_scale`
 * @example
 * ```ts
 * const { logitsPerImage } = clipLogits(imageFeatures, textFeatures, clip.params.logit_scale); // [N, T]
 * ```
 */
export function clipLogits(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, logitScale: tf.Scalar | number): ClipOutput {
  if (imageFeatures.rank !== 2 || textFeatures.rank !== 2 || imageFeatures.shape[1] !== textFeatures.shape[1]) {
    throw new ShapeMismatchError('textFeatures', [null, imageFeatures.shape[1] ?? null], textFeatures.shape);
  }
  const imageEmbeds = l2Normalize(imageFeatures);
  const textEmbeds = l2Normalize(textFeatures);
  const scale = typeof logitScale === 'number' ? Math.exp(logitScale) : tf.exp(logitScale);
  // Image rows against text rows: [N, D] x [D, T]; the transpose is a small [D, T] copy.
  const logitsPerImage = tf.mul(tf.matMul(imageEmbeds, tf.transpose(textEmbeds)), scale) as tf.Tensor2D;
  return { logitsPerImage, logitsPerText: tf.transpose(logitsPerImage), textEmbeds, imageEmbeds };
}

/**
 * Projected, unnormalized text features (`CLIPModel.get_text_features`). Call inside `tf.tidy` / `tf.grad`.
 *
 * @param p        CLIP parameters
 * @param cfg      resolved CLIP config
 * @param inputIds `[T, L]` token ids
 * @returns `[T, projection_dim]`
 * @example
 * ```ts
 * const text = tf.tidy(() => clipTextFeatures(clip.params, clip.config, ids));
 * ```
 */
export function clipTextFeatures(p: ClipModelParams, cfg: ResolvedClipConfig, inputIds: TokenIdsInput): tf.Tensor2D {
  return tf.matMul(clipTextTransformer(p.text_model, cfg.text, inputIds).pooledOutput, p.text_projection.weight);
}

/**
 * Projected, unnormalized image features (`CLIPModel.get_image_features`); differentiable with respect to
 * `pixels`. Call inside `tf.tidy` / `tf.grad`.
 *
 * @param p      CLIP parameters
 * @param cfg    resolved CLIP config
 * @param pixels `[N, S, S, C]` NHWC, as the model expects them (normalized, S = image_size)
 * @returns `[N, projection_dim]`
 * @example
 * ```ts
 * const g = tf.grad((x: tf.Tensor) => tf.sum(clipImageFeatures(clip.params, clip.config, x)))(pixels);
 * ```
 */
export function clipImageFeatures(p: ClipModelParams, cfg: ResolvedClipConfig, pixels: tf.Tensor): tf.Tensor2D {
  return tf.matMul(clipVisionTransformer(p.vision_model, cfg.vision, pixels).pooledOutput, p.visual_projection.weight);
}

/**
 * `CLIPModel`: both towers, projections and `logit_scale`. Methods run in one `tf.tidy` each; for gradients use
 * {@link clipImageFeatures} and {@link clipLogits} inside `tf.grad`.
 *
 * @example
 * ```ts
 * const clip = await loadOpenAiClip('ViT-B-32.pt');
 * const { logitsPerImage } = clip.forward(ids, pixels);
 * ```
 */
export class ClipModel {
  /**
   * @param config    resolved CLIP config
   * @param params    the tree
   * @param leftovers checkpoint keys the load did not use
   */
  constructor(
    readonly config: ResolvedClipConfig,
    readonly params: ClipModelParams,
    readonly leftovers: readonly string[] = [],
  ) {}

  /**
   * Projected text features, not normalized (`get_text_features`).
   *
   * @param inputIds `[T, L]` token ids
   * @example
   * ```ts
   * clip.getTextFeatures(ids).shape; // [T, projection_dim]
   * ```
   */
  getTextFeatures(inputIds: TokenIdsInput): tf.Tensor2D {
    return tf.tidy(() => clipTextFeatures(this.params, this.config, inputIds));
  }

  /**
   * Projected image features, not normalized (`get_image_features`).
   *
   * @param pixels `[N, S, S, C]` NHWC, normalized
   * @example
   * ```ts
   * clip.getImageFeatures(pixels).shape; // [N, projection_dim]
   * ```
   */
  getImageFeatures(pixels: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => clipImageFeatures(this.params, this.config, pixels));
  }

  /**
   * Both towers and the similarity logits (`CLIPModel.forward`).
   *
   * @param inputIds `[T, L]` token ids
   * @param pixels   `[N, S, S, C]` NHWC, normalized
   * @example
   * ```ts
   * const { logitsPerText, textEmbeds } = clip.forward(ids, pixels); // [T, N], [T, D]
   * ```
   */
  forward(inputIds: TokenIdsInput, pixels: tf.Tensor): ClipOutput {
    return tidyOutputs(() =>
      clipLogits(clipImageFeatures(this.params, this.config, pixels), clipTextFeatures(this.params, this.config, inputIds), this.params.logit_scale),
    );
  }

  /**
   * Frees the parameters.
   *
   * @example
   * ```ts
   * clip.dispose();
   * ```
   */
  dispose(): void {
    disposeClipParams(this.params);
  }
}
