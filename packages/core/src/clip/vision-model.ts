/**
 * The CLIP vision tower (`CLIPVisionTransformer`, ViT) over NHWC pixels, and the model handles
 * {@link ClipVisionModel} / {@link ClipVisionModelWithProjection}.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { DisposedError, ShapeMismatchError } from '../errors.js';
import type { ResolvedClipVisionConfig } from './config.js';
import { clipEncoder } from './encoder.js';
import { layerNorm } from './layers.js';
import { disposeClipParams, type ClipVisionModelParams, type ClipVisionTransformerParams } from './params.js';
import { tidyOutputs } from './text-model.js';
import { storeWeights } from '../backend/weight-storage.js';
import { paramTensors } from '../nn/weights.js';

/**
 * Options of the vision forward pass.
 *
 * @example
 * ```ts
 * const o: ClipVisionForwardOptions = { outputHiddenStates: true };
 * ```
 */
export interface ClipVisionForwardOptions {
  /** Return every hidden state (`hiddenStates`), as transformers' `output_hidden_states=True`. */
  outputHiddenStates?: boolean;
}

/**
 * What the vision tower returns. T = num_patches + 1 tokens (CLS first).
 *
 * @example
 * ```ts
 * const { pooledOutput } = vision.forward(pixels); // [B, C]
 * ```
 */
export interface ClipVisionOutput {
  /** Last encoder output, `[B, T, C]`, NOT post-layernormed (as transformers). */
  lastHiddenState: tf.Tensor3D;
  /** `post_layernorm(lastHiddenState[:, 0])`, `[B, C]`. */
  pooledOutput: tf.Tensor2D;
  /** With `outputHiddenStates`: `[pre_layrnorm(embeddings), layer 1, …, layer N]`, each `[B, T, C]`. */
  hiddenStates?: tf.Tensor3D[];
}

/**
 * {@link ClipVisionOutput} plus the projected pooled output.
 *
 * @example
 * ```ts
 * vision.forward(pixels).imageEmbeds.shape; // [B, projection_dim]
 * ```
 */
export interface ClipVisionProjectedOutput extends ClipVisionOutput {
  /** `pooledOutput @ visual_projection`, `[B, projection_dim]`, not normalized. */
  imageEmbeds: tf.Tensor2D;
}

/**
 * Checks that pixels are `[B, image_size, image_size, num_channels]`.
 *
 * @param pixels NHWC pixels
 * @param cfg    resolved vision config
 * @throws ShapeMismatchError naming `pixelValues`
 * @example
 * ```ts
 * assertPixelShape(tf.zeros([1, 224, 224, 3]), cfg);
 * ```
 */
export function assertPixelShape(pixels: tf.Tensor, cfg: ResolvedClipVisionConfig): asserts pixels is tf.Tensor4D {
  const want = [null, cfg.imageSize, cfg.imageSize, cfg.numChannels];
  if (pixels.rank !== 4 || want.some((d, i) => d !== null && d !== pixels.shape[i])) {
    throw new ShapeMismatchError('pixelValues (NHWC)', want, pixels.shape);
  }
}

/**
 * The vision tower's forward pass (`CLIPVisionTransformer.forward`): patch conv (stride = patch, no bias), CLS
 * token prepended, position embeddings, `pre_layrnorm`, encoder (no mask), `post_layernorm` on the CLS token.
 * Differentiable with respect to `pixels`; call it inside `tf.tidy` or `tf.grad`.
 *
 * @param p      `vision_model` parameters
 * @param cfg    resolved vision config
 * @param pixels `[B, S, S, C]` NHWC, already normalized (S = image_size)
 * @param opts   `outputHiddenStates`
 * @example
 * ```ts
 * const pooled = tf.tidy(() => clipVisionTransformer(params.vision_model, cfg, pixels).pooledOutput);
 * ```
 */
export function clipVisionTransformer(
  p: ClipVisionTransformerParams,
  cfg: ResolvedClipVisionConfig,
  pixels: tf.Tensor,
  opts: ClipVisionForwardOptions = {},
): ClipVisionOutput {
  assertPixelShape(pixels, cfg);
  const [b, c, n] = [pixels.shape[0], cfg.hiddenSize, cfg.numPatches];
  const t = n + 1;
  // 1. Patches [B, S/P, S/P, C] -> [B, N, C] (row-major over the grid, as torch's flatten(2)); CLS first; positions.
  const patches = tf.reshape(tf.conv2d(pixels, p.embeddings.patch_embedding.weight, cfg.patchSize, 'valid'), [b, n, c]);
  const cls = tf.broadcastTo(tf.reshape(p.embeddings.class_embedding, [1, 1, c]), [b, 1, c]);
  const embeddings = tf.add(tf.concat([cls, patches], 1), p.embeddings.position_embedding.weight);
  // 2. pre_layrnorm, then the encoder on [B·T, C]; states[0] is the pre-LN output (transformers' hidden_states[0]).
  const x = layerNorm(p.pre_layrnorm, tf.reshape(embeddings, [b * t, c]) as tf.Tensor2D, cfg.layerNormEps);
  const states = clipEncoder(p.encoder, x, { batch: b, seqLen: t, heads: cfg.numAttentionHeads, act: cfg.hiddenAct, eps: cfg.layerNormEps });
  const to3d = (s: tf.Tensor2D) => tf.reshape(s, [b, t, c]) as tf.Tensor3D;
  const lastHiddenState = to3d(states[states.length - 1]!);
  // 3. CLS token of the last state, post_layernorm.
  const clsOut = tf.reshape(tf.slice(lastHiddenState, [0, 0, 0], [b, 1, c]), [b, c]) as tf.Tensor2D;
  const out: ClipVisionOutput = { lastHiddenState, pooledOutput: layerNorm(p.post_layernorm, clsOut, cfg.layerNormEps) };
  if (opts.outputHiddenStates) out.hiddenStates = states.map(to3d);
  return out;
}

/**
 * `CLIPVisionModel`: a handle on a vision tower's config and parameters; forward runs in one `tf.tidy`.
 *
 * @example
 * ```ts
 * const vision = await loadClipVisionModel('clip-vit-base-patch32');
 * vision.forward(pixels).pooledOutput.shape; // [B, 768]
 * ```
 */
export class ClipVisionModel {
  private disposed = false;

  /**
   * @param config    resolved vision config
   * @param params    the tree (`visual_projection` unused if present)
   * @param leftovers checkpoint keys the load did not use
   */
  constructor(
    readonly config: ResolvedClipVisionConfig,
    readonly params: ClipVisionModelParams,
    readonly leftovers: readonly string[] = [],
  ) {
    storeWeights(paramTensors(params));
  }

  /**
   * Encodes images.
   *
   * @param pixels `[B, S, S, C]` NHWC, normalized
   * @param opts   `outputHiddenStates`
   * @example
   * ```ts
   * const { lastHiddenState } = vision.forward(pixels); // [B, 50, 768] for ViT-B/32
   * ```
   */
  forward(pixels: tf.Tensor, opts: ClipVisionForwardOptions = {}): ClipVisionOutput {
    if (this.disposed) throw new DisposedError('ClipVisionModel');
    return tidyOutputs(() => clipVisionTransformer(this.params.vision_model, this.config, pixels, opts));
  }

  /**
   * Frees the parameters.
   *
   * @example
   * ```ts
   * vision.dispose();
   * ```
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeClipParams(this.params);
  }
}

/**
 * `CLIPVisionModelWithProjection`: {@link ClipVisionModel} plus `imageEmbeds = pooledOutput @ visual_projection`.
 *
 * @example
 * ```ts
 * const vision = await loadClipVisionModelWithProjection('clip-vision-tiny');
 * vision.forward(pixels).imageEmbeds.shape; // [B, projection_dim]
 * ```
 */
export class ClipVisionModelWithProjection {
  private disposed = false;

  /**
   * @param config    resolved vision config
   * @param params    the tree, with `visual_projection`
   * @param leftovers checkpoint keys the load did not use (e.g. the text tower of a full CLIP checkpoint)
   */
  constructor(
    readonly config: ResolvedClipVisionConfig,
    readonly params: ClipVisionModelParams & Required<Pick<ClipVisionModelParams, 'visual_projection'>>,
    readonly leftovers: readonly string[] = [],
  ) {
    storeWeights(paramTensors(params));
  }

  /**
   * Encodes images and projects the pooled output.
   *
   * @param pixels `[B, S, S, C]` NHWC, normalized
   * @param opts   `outputHiddenStates`
   * @example
   * ```ts
   * const { imageEmbeds } = vision.forward(pixels);
   * ```
   */
  forward(pixels: tf.Tensor, opts: ClipVisionForwardOptions = {}): ClipVisionProjectedOutput {
    if (this.disposed) throw new DisposedError('ClipVisionModelWithProjection');
    return tidyOutputs(() => {
      const out = clipVisionTransformer(this.params.vision_model, this.config, pixels, opts);
      return { ...out, imageEmbeds: tf.matMul(out.pooledOutput, this.params.visual_projection.weight) };
    });
  }

  /**
   * Frees the parameters.
   *
   * @example
   * ```ts
   * vision.dispose();
   * ```
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeClipParams(this.params);
  }
}
