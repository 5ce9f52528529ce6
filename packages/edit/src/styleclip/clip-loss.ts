/**
 * StyleCLIP's CLIP loss (`criteria/clip_loss.py`): the generator image is resized by nearest ×7 upsampling and
 * average pooling to CLIP's input size and fed **as is** (values in [-1, 1], no CLIP mean/std), and the loss is
 * `1 − logits_per_image / 100` (≈ 1 − cosine; `exp(logit_scale)` is 100.03 in fp16 checkpoints, kept as the
 * reference does). The `clip` preprocessing variant maps [-1, 1] to [0, 1], clamps and normalizes with CLIP's
 * mean/std (what the global-directions code feeds CLIP).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';
import {
  clipImageFeatures, clipLogits, styleClipResize, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, type ClipModel, type ClipTokenizer, type TokenIdsInput,
} from '@semedit/core/clip';

/**
 * Token ids as OpenAI's `clip.tokenize` makes them (what StyleCLIP feeds its CLIP loss): start token, the BPE ids,
 * end token, then **zeros** up to the context length (not the pad token SD pipelines use). Too long a text is an
 * error, as in `clip.tokenize` without `truncate`.
 *
 * @param tok           a CLIP tokenizer
 * @param texts         the texts
 * @param contextLength row length, default 77
 * @throws OptionError for a text longer than the context
 * @example
 * ```ts
 * clipTokenize(tok, ['a cat'])[0]!.slice(0, 4); // [49406, 320, 2368, 49407], then 73 zeros
 * ```
 */
export function clipTokenize(tok: ClipTokenizer, texts: readonly string[], contextLength = 77): number[][] {
  if (!Number.isInteger(contextLength) || contextLength < 2) throw new OptionError('contextLength', `must be an integer >= 2, got ${contextLength}`);
  return texts.map((text) => {
    const ids = tok.encode(text, { padding: 'none', truncation: false }).ids;
    if (ids.length > contextLength) throw new OptionError('text', `"${text}" is ${ids.length} tokens, more than the context length ${contextLength}`);
    return [...ids, ...Array<number>(contextLength - ids.length).fill(0)];
  });
}

/**
 * How generator images become CLIP input: `styleclip` = the reference loss (resize only, values as they are);
 * `clip` = `clamp((x+1)/2, 0, 1)`, resize, then `(x − mean)/std` (CLIP's own normalization).
 *
 * @example
 * ```ts
 * const p: ClipInputVariant = 'clip';
 * ```
 */
export type ClipInputVariant = 'styleclip' | 'clip';

/**
 * Options of {@link clipImageInput} and {@link styleClipLoss}.
 *
 * @example
 * ```ts
 * const o: ClipLossOptions = { variant: 'styleclip', kernel: 8 }; // a 32-px generator for a 28-px CLIP
 * ```
 */
export interface ClipLossOptions {
  /** Preprocessing variant, default `styleclip`. */
  variant?: ClipInputVariant;
  /** Nearest upsampling factor, default 7. */
  scaleFactor?: number;
  /**
   * Average-pool window; default `H · scaleFactor / imageSize` of the CLIP model (StyleCLIP: `stylegan_size // 32`
   * for 224 px), which must be an integer.
   */
  kernel?: number;
}

/**
 * The pooling kernel that maps an `H`-pixel image to CLIP's input size after ×`scaleFactor` upsampling.
 *
 * @param height      generator image side
 * @param clipSize    CLIP's `image_size`
 * @param scaleFactor upsampling factor (7)
 * @throws OptionError when `height · scaleFactor` is not a multiple of `clipSize`
 * @example
 * ```ts
 * styleClipKernel(1024, 224, 7); // 32
 * styleClipKernel(32, 28, 7);    // 8
 * ```
 */
export function styleClipKernel(height: number, clipSize: number, scaleFactor = 7): number {
  const k = (height * scaleFactor) / clipSize;
  if (!Number.isInteger(k) || k < 1) {
    throw new OptionError('kernel', `cannot map a ${height}-px image to CLIP's ${clipSize} px with x${scaleFactor} upsampling; pass kernel explicitly`);
  }
  return k;
}

/**
 * The CLIP input for generator images. Differentiable; call inside `tf.tidy` / `tf.grad`.
 *
 * @param clip   the CLIP model (for its input size)
 * @param images `[N, H, W, 3]` NHWC generator output in [-1, 1]
 * @param opts   `variant`, `scaleFactor`, `kernel`
 * @returns `[N, S, S, 3]`, S = CLIP's image size
 * @example
 * ```ts
 * const x = clipImageInput(clip, img); // [N, 224, 224, 3] for a 1024-px generator and ViT-B/32
 * ```
 */
export function clipImageInput(clip: ClipModel, images: tf.Tensor4D, opts: ClipLossOptions = {}): tf.Tensor4D {
  if (images.rank !== 4 || images.shape[3] !== 3) throw new ShapeMismatchError('images (NHWC)', [null, null, null, 3], images.shape);
  const size = clip.config.vision.imageSize;
  const scaleFactor = opts.scaleFactor ?? 7;
  const kernel = opts.kernel ?? styleClipKernel(images.shape[1], size, scaleFactor);
  const variant = opts.variant ?? 'styleclip';
  if (variant === 'styleclip') return styleClipResize(images, { scaleFactor, kernel });
  if (variant !== 'clip') throw new OptionError('variant', `must be 'styleclip' or 'clip', got ${String(variant)}`);
  const unit = tf.clipByValue(tf.div(tf.add(images, 1), 2), 0, 1);
  const resized = styleClipResize(unit, { scaleFactor, kernel });
  return tf.div(tf.sub(resized, tf.tensor1d([...OPENAI_CLIP_MEAN])), tf.tensor1d([...OPENAI_CLIP_STD]));
}

/**
 * StyleCLIP's `CLIPLoss.forward`: `1 − logits_per_image / 100` for every (image, text) pair. Differentiable with
 * respect to `images`; call inside `tf.tidy` / `tf.grad`.
 *
 * @param clip         the CLIP model
 * @param images       `[N, H, W, 3]` generator output
 * @param textFeatures `[T, D]` projected text features (e.g. `clip.getTextFeatures(ids)`)
 * @param opts         `variant`, `scaleFactor`, `kernel`
 * @returns `[N, T]`
 * @example
 * ```ts
 * const text = clip.getTextFeatures(ids);
 * const loss = tf.tidy(() => tf.mean(styleClipLoss(clip, img, text))); // ~0.7-0.8 for real CLIP
 * ```
 */
export function styleClipLoss(clip: ClipModel, images: tf.Tensor4D, textFeatures: tf.Tensor2D, opts: ClipLossOptions = {}): tf.Tensor2D {
  const features = clipImageFeatures(clip.params, clip.config, clipImageInput(clip, images, opts));
  return tf.sub(1, tf.div(clipLogits(features, textFeatures, clip.params.logit_scale).logitsPerImage, 100));
}

/**
 * A CLIP loss bound to one text: the text features are computed once and kept until {@link ClipTextLoss.dispose}.
 *
 * @example
 * ```ts
 * const loss = new ClipTextLoss(clip, tokenizer.encodeBatch(['a person with purple hair']).map((e) => e.ids));
 * const l = tf.tidy(() => loss.loss(img)); // [N]: one loss per image (mean over the texts)
 * loss.dispose();
 * ```
 */
export class ClipTextLoss {
  /** `[T, D]` text features (kept). */
  readonly textFeatures: tf.Tensor2D;

  /**
   * @param clip     the CLIP model (not owned)
   * @param tokenIds `[T, L]` token ids of the description(s)
   * @param opts     `variant`, `scaleFactor`, `kernel`
   */
  constructor(readonly clip: ClipModel, tokenIds: TokenIdsInput, readonly opts: ClipLossOptions = {}) {
    this.textFeatures = clip.getTextFeatures(tokenIds);
  }

  /**
   * Per-image loss, the mean over the texts of `1 − logits/100`. Differentiable; call inside `tf.tidy` / `tf.grad`.
   *
   * @param images `[N, H, W, 3]`
   * @returns `[N]`
   * @example
   * ```ts
   * const g = tf.grad((x: tf.Tensor4D) => tf.sum(loss.loss(x)))(img);
   * ```
   */
  loss(images: tf.Tensor4D): tf.Tensor1D {
    return tf.mean(styleClipLoss(this.clip, images, this.textFeatures, this.opts), 1);
  }

  /**
   * Frees the text features (not the CLIP model).
   *
   * @example
   * ```ts
   * loss.dispose();
   * ```
   */
  dispose(): void {
    this.textFeatures.dispose();
  }
}
