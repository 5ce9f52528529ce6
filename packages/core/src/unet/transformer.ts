/**
 * The UNet's spatial transformer: `Transformer2DModel` (continuous input) and `BasicTransformerBlock`
 * (LayerNorm → self-attention → LayerNorm → cross-attention → LayerNorm → GEGLU feed-forward, each residual),
 * with diffusers' `Attention` (`AttnProcessor` semantics) calling the hookable attention kernel.
 * Activations stay 2-D `[B·N, C]` so every projection is one rank-2 matmul.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { gelu } from '../nn/activations.js';
import { DEFAULT_MAX_SCORE_ELEMENTS, scaledDotProductAttention } from '../nn/attention.js';
import { groupNorm, layerNorm, type NormParams } from '../nn/group-norm.js';
import { linear, type LinearParams } from '../nn/linear.js';
import type { ResolvedAttention } from './config.js';
import type { AttentionContext, AttentionOptions, AttentionProcessor, RowRole, StepInfo } from './hooks.js';

/**
 * diffusers `Attention` parameters (`to_q`, `to_k`, `to_v` without bias in the UNet, `to_out.0` with bias).
 *
 * @example
 * ```ts
 * const q = linear(p.to_q, x2d);
 * ```
 */
export interface AttentionParams {
  to_q: LinearParams;
  to_k: LinearParams;
  to_v: LinearParams;
  to_out: readonly [LinearParams];
}

/**
 * `FeedForward` with GEGLU: `ff.net.0.proj` (split at load into its `hidden` and `gate` halves, so the forward
 * never slices activations) and the output linear `ff.net.2`.
 *
 * @example
 * ```ts
 * const y = feedForward(p.ff, x2d);
 * ```
 */
export interface FeedForwardParams {
  net: readonly [{ proj: { hidden: LinearParams; gate: LinearParams } }, unknown, LinearParams];
}

/**
 * `BasicTransformerBlock` parameters.
 *
 * @example
 * ```ts
 * const p: BasicTransformerBlockParams = params.mid_block!.attentions[0]!.transformer_blocks[0]!;
 * ```
 */
export interface BasicTransformerBlockParams {
  norm1: NormParams;
  attn1: AttentionParams;
  norm2: NormParams;
  attn2: AttentionParams;
  norm3: NormParams;
  ff: FeedForwardParams;
}

/**
 * `Transformer2DModel` parameters; `proj_in`/`proj_out` are linear in both SD1 (1×1 conv in the checkpoint)
 * and SD2 (linear in the checkpoint).
 *
 * @example
 * ```ts
 * const p: Transformer2DParams = params.down_blocks[0]!.attentions![0]!;
 * ```
 */
export interface Transformer2DParams {
  norm: NormParams;
  proj_in: LinearParams;
  transformer_blocks: BasicTransformerBlockParams[];
  proj_out: LinearParams;
}

/**
 * What the transformers of one UNet call share: encoder states, attention options, step and rows.
 *
 * @example
 * ```ts
 * const env: AttentionEnv = { encoderHiddenStates: ehs2d, tokens: 77, options: {}, step: undefined, rows: undefined };
 * ```
 */
export interface AttentionEnv {
  /** `[B·T, D]` encoder hidden states. */
  encoderHiddenStates: tf.Tensor2D;
  /** Tokens per row T. */
  tokens: number;
  options: AttentionOptions;
  step: StepInfo | undefined;
  rows: readonly RowRole[] | undefined;
}

/**
 * Where a transformer sits: module path prefix, place, feature map size.
 *
 * @example
 * ```ts
 * const site: TransformerSite = { path: 'down_blocks.0.attentions.1', place: 'down', height: 64, width: 64 };
 * ```
 */
export interface TransformerSite {
  /** e.g. `down_blocks.0.attentions.1`. */
  path: string;
  place: AttentionContext['place'];
  height: number;
  width: number;
}

const defaultProcessor: AttentionProcessor = (q, k, v, call) =>
  scaledDotProductAttention(q, k, v, {
    heads: call.ctx.heads,
    scale: call.scale,
    maxScoreElements: call.maxScoreElements,
    onProbs: call.hook && ((probs, slice) => call.hook!(probs, { ...call.ctx, slice })),
  });

/**
 * diffusers `Attention` with `AttnProcessor`: project q from `x` and k, v from `context` (or `x`), run the
 * processor (default: chunked scaled dot-product attention with the resolved hook), project out.
 *
 * @param p       projections
 * @param x       `[B·N, C]` queries' source
 * @param context `[B·M, D]` keys' source, or `null` for self-attention
 * @param info    batch, token counts, heads, context
 * @returns `[B·N, C]`
 * @example
 * ```ts
 * const y = attention(p.attn2, x2d, ehs2d, { batch: 2, queries: 1024, keys: 77, heads: 8, headDim: 4, ctx, options: {} });
 * ```
 */
export function attention(
  p: AttentionParams,
  x: tf.Tensor2D,
  context: tf.Tensor2D | null,
  info: { batch: number; queries: number; keys: number; headDim: number; ctx: AttentionContext; options: AttentionOptions },
): tf.Tensor2D {
  const src = context ?? x;
  const inner = p.to_q.weight.shape[1];
  const q = tf.reshape(linear(p.to_q, x), [info.batch, info.queries, inner]) as tf.Tensor3D;
  const k = tf.reshape(linear(p.to_k, src), [info.batch, info.keys, inner]) as tf.Tensor3D;
  const v = tf.reshape(linear(p.to_v, src), [info.batch, info.keys, inner]) as tf.Tensor3D;
  const processor = info.options.processor ?? defaultProcessor;
  const out = processor(q, k, v, {
    ctx: info.ctx,
    scale: 1 / Math.sqrt(info.headDim),
    hook: info.options.hooks?.(info.ctx),
    maxScoreElements: info.options.maxScoreElements ?? DEFAULT_MAX_SCORE_ELEMENTS,
  });
  return linear(p.to_out[0], tf.reshape(out, [info.batch * info.queries, inner]) as tf.Tensor2D);
}

/**
 * GEGLU feed-forward: `net.2(hidden(x) · gelu(gate(x)))` (exact erf GELU).
 *
 * @param p the two halves of `net.0.proj` and `net.2`
 * @param x `[rows, C]`
 * @returns `[rows, C]`
 * @example
 * ```ts
 * feedForward(p, tf.zeros([2048, 32])).shape; // [2048, 32]
 * ```
 */
export function feedForward(p: FeedForwardParams, x: tf.Tensor2D): tf.Tensor2D {
  const { hidden, gate } = p.net[0].proj;
  return linear(p.net[2], tf.mul(linear(hidden, x), gelu(linear(gate, x))));
}

/**
 * `BasicTransformerBlock.forward` (norm_type `layer_norm`): the three residual sub-blocks.
 *
 * @param p     block parameters
 * @param x     `[B·N, C]` tokens (row-major over the feature map)
 * @param cfg   the resolved attention settings of the enclosing block
 * @param env   encoder states and attention options of the call
 * @param where the block's module path and the feature map size
 * @returns `[B·N, C]`
 * @example
 * ```ts
 * const y = basicTransformerBlock(p, x2d, cfg.mid!.attention, env, { path: 'mid_block.attentions.0.transformer_blocks.0', place: 'mid', height: 8, width: 8 });
 * ```
 */
export function basicTransformerBlock(
  p: BasicTransformerBlockParams,
  x: tf.Tensor2D,
  cfg: ResolvedAttention,
  env: AttentionEnv,
  where: TransformerSite,
): tf.Tensor2D {
  const queries = where.height * where.width;
  const batch = x.shape[0] / queries;
  const ctxFor = (name: 'attn1' | 'attn2', kind: 'self' | 'cross'): AttentionContext => ({
    layer: `${where.path}.${name}`, place: where.place, kind, heads: cfg.heads,
    resolution: { height: where.height, width: where.width }, step: env.step, rows: env.rows,
    slice: { heads: [0, cfg.heads], queries: [0, queries] },
  });
  const common = { batch, queries, headDim: cfg.headDim, options: env.options };
  const selfKind = cfg.onlyCrossAttention ? 'cross' : 'self';
  let h: tf.Tensor2D = tf.add(x, attention(p.attn1, layerNorm(p.norm1, x, 1e-5), cfg.onlyCrossAttention ? env.encoderHiddenStates : null, {
    ...common, keys: cfg.onlyCrossAttention ? env.tokens : queries, ctx: ctxFor('attn1', selfKind),
  })) as tf.Tensor2D;
  h = tf.add(h, attention(p.attn2, layerNorm(p.norm2, h, 1e-5), env.encoderHiddenStates, {
    ...common, keys: env.tokens, ctx: ctxFor('attn2', 'cross'),
  })) as tf.Tensor2D;
  return tf.add(h, feedForward(p.ff, layerNorm(p.norm3, h, 1e-5))) as tf.Tensor2D;
}

/**
 * `Transformer2DModel.forward` (continuous input): GroupNorm (eps 1e-6) → `proj_in` → transformer blocks →
 * `proj_out` → residual. Each transformer block runs in its own `tf.tidy`, so its intermediates are freed
 * before the next starts.
 *
 * @param p      parameters
 * @param x      `[B, H, W, C]`
 * @param cfg    resolved attention settings
 * @param groups GroupNorm groups (`norm_num_groups`)
 * @param env    encoder states and attention options
 * @param where  module path prefix (e.g. `down_blocks.0.attentions.1`) and place
 * @returns `[B, H, W, C]`
 * @example
 * ```ts
 * transformer2d(p, x, cfg.down[0]!.attention!, 32, env, { path: 'down_blocks.0.attentions.0', place: 'down', height: 32, width: 32 });
 * ```
 */
export function transformer2d(
  p: Transformer2DParams,
  x: tf.Tensor4D,
  cfg: ResolvedAttention,
  groups: number,
  env: AttentionEnv,
  where: TransformerSite,
): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const normed = groupNorm(p.norm, x, { groups, eps: 1e-6 });
  let tokens = linear(p.proj_in, tf.reshape(normed, [b * h * w, c]) as tf.Tensor2D); // [B·H·W, inner]
  p.transformer_blocks.forEach((block, i) => {
    const prev = tokens;
    tokens = tf.tidy(() => basicTransformerBlock(block, prev, cfg, env, { ...where, path: `${where.path}.transformer_blocks.${i}` }));
  });
  const out = linear(p.proj_out, tokens);
  return tf.add(tf.reshape(out, [b, h, w, c]), x);
}
