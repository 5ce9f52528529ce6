/**
 * Attention control (style.md 3.3, design.md §4): per-call hooks on the attention probabilities, chosen by a
 * resolver from an explicit {@link AttentionContext} (module path, place, kind, heads, spatial size, step, batch
 * roles, chunk), instead of call counting or monkeypatching; an optional {@link AttentionProcessor} replaces the
 * whole attention kernel.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { AttentionSlice } from '../nn/attention.js';
import { resolveUNetConfig, type ResolvedUNetConfig, type UNet2DConditionConfig } from './config.js';

export type { RowRole, StepInfo } from '../types.js';
import type { RowRole, StepInfo } from '../types.js';

/**
 * Where an attention call happens, built by the UNet for every call (and every chunk of it).
 *
 * @example
 * ```ts
 * const hooks = (ctx: AttentionContext) => (ctx.kind === 'cross' && ctx.resolution.height === 16 ? store : undefined);
 * ```
 */
export interface AttentionContext {
  /** diffusers module path, e.g. `down_blocks.0.attentions.0.transformer_blocks.0.attn2`. */
  layer: string;
  place: 'down' | 'mid' | 'up';
  /** `self` for `attn1` (unless `only_cross_attention`), `cross` when keys come from the encoder hidden states. */
  kind: 'self' | 'cross';
  heads: number;
  /** Spatial size of the feature map the queries come from (queries = height · width, row-major). */
  resolution: { height: number; width: number };
  /** The step, when the caller passed one. */
  step: StepInfo | undefined;
  /** One role per batch row, when the caller passed them. */
  rows: readonly RowRole[] | undefined;
  /** The chunk a hook call sees: heads `[start, end)` and queries `[start, end)` (the resolver sees the full range). */
  slice: AttentionSlice;
}

/**
 * Sees, and may replace, attention probabilities `[batch, headsInSlice, queriesInSlice, keys]` (after the
 * softmax, before the product with V); returns a tensor of the same shape. Tensors it retains across calls must
 * be `tf.keep`-ed (the forward's tidy disposes everything else).
 *
 * @example
 * ```ts
 * const sharpen: AttentionHook = (probs) => tf.div(tf.square(probs), tf.sum(tf.square(probs), -1, true));
 * ```
 */
export type AttentionHook = (probs: tf.Tensor4D, ctx: AttentionContext) => tf.Tensor4D;

/**
 * Picks the hook of one attention layer for one UNet call (or none).
 *
 * @example
 * ```ts
 * const resolver: AttentionHookResolver = (ctx) => (ctx.place === 'mid' ? myHook : undefined);
 * ```
 */
export type AttentionHookResolver = (ctx: AttentionContext) => AttentionHook | undefined;

/**
 * Everything an {@link AttentionProcessor} gets besides q, k, v.
 *
 * @example
 * ```ts
 * const p: AttentionProcessor = (q, k, v, call) => myKernel(q, k, v, call.ctx.heads, call.scale);
 * ```
 */
export interface AttentionCall {
  /** The layer's context (full slice). */
  ctx: AttentionContext;
  /** Logit scale (`head_dim^-0.5`). */
  scale: number;
  /** The hook the resolver chose for this layer, if any: a processor should call it on its probabilities. */
  hook: AttentionHook | undefined;
  /** The chunk bound in force. */
  maxScoreElements: number;
}

/**
 * Replaces the attention kernel: `(q, k, v) → out` with q `[B, Nq, C]`, k and v `[B, Nk, C]`, out `[B, Nq, C]`
 * (heads interleaved in C as diffusers' projections produce them). The default is the chunked, hookable
 * `scaledDotProductAttention`.
 *
 * @example
 * ```ts
 * const reference: AttentionProcessor = (q, k, v, call) => referenceAttention(q, k, v, { heads: call.ctx.heads });
 * ```
 */
export type AttentionProcessor = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, call: AttentionCall) => tf.Tensor3D;

/**
 * Per-call attention options of the UNet forward.
 *
 * @example
 * ```ts
 * unet.forward(x, t, ehs, { attention: { hooks: (ctx) => (ctx.kind === 'cross' ? store : undefined) } });
 * ```
 */
export interface AttentionOptions {
  /** Chooses the hook of each attention layer. */
  hooks?: AttentionHookResolver;
  /** Replaces the attention kernel of every layer. */
  processor?: AttentionProcessor;
  /** Most attention scores materialized at once (default 2^24); smaller saves memory, costs more chunks. */
  maxScoreElements?: number;
}

/**
 * Chains hooks: each gets the previous one's output. `undefined` entries are skipped; with none left the
 * result is `undefined`.
 *
 * @param hooks hooks in application order
 * @example
 * ```ts
 * const both = composeHooks(replaceHook, storeHook); // the store sees the replaced probabilities
 * ```
 */
export function composeHooks(...hooks: (AttentionHook | undefined)[]): AttentionHook | undefined {
  const list = hooks.filter((h): h is AttentionHook => h !== undefined);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  return (probs, ctx) => list.reduce((p, h) => h(p, ctx), probs);
}

/**
 * Chains resolvers: for each layer, the hooks every resolver picks, composed in order.
 *
 * @param resolvers resolvers in application order
 * @example
 * ```ts
 * const hooks = composeResolvers(p2p.hooks, store.hooks);
 * ```
 */
export function composeResolvers(...resolvers: (AttentionHookResolver | undefined)[]): AttentionHookResolver {
  const list = resolvers.filter((r): r is AttentionHookResolver => r !== undefined);
  return (ctx) => composeHooks(...list.map((r) => r(ctx)));
}

/**
 * One attention layer of a UNet, as {@link listAttentionLayers} describes it.
 *
 * @example
 * ```ts
 * const l: AttentionLayerInfo = { layer: 'mid_block.attentions.0.transformer_blocks.0.attn1', place: 'mid',
 *   kind: 'self', heads: 8, headDim: 160, keyDim: 1280, downscale: 8, resolution: { height: 8, width: 8 } };
 * ```
 */
export interface AttentionLayerInfo {
  layer: string;
  place: 'down' | 'mid' | 'up';
  kind: 'self' | 'cross';
  heads: number;
  headDim: number;
  /** Width of the states keys and values are projected from (the encoder's for cross-attention). */
  keyDim: number;
  /** The feature map is the latent downscaled by this factor (2^level). */
  downscale: number;
  /** The feature map's size, when a latent size was given. */
  resolution?: { height: number; width: number };
}

/**
 * Every attention layer of a UNet config in execution order (down, mid, up), the counterpart of diffusers'
 * `attn_processors` keys: for documentation, and for validating hook targets.
 *
 * @param config a diffusers config or an already resolved one
 * @param latent optional latent `{ height, width }` to compute each layer's resolution (odd sizes round up at
 *               each downsample, as the strided convs do)
 * @example
 * ```ts
 * const layers = listAttentionLayers(sd15Config, { height: 64, width: 64 });
 * layers.length;   // 32
 * layers[0].layer; // 'down_blocks.0.attentions.0.transformer_blocks.0.attn1', resolution 64x64
 * ```
 */
export function listAttentionLayers(
  config: UNet2DConditionConfig | ResolvedUNetConfig,
  latent?: { height: number; width: number },
): AttentionLayerInfo[] {
  const cfg = 'down' in config ? config : resolveUNetConfig(config);
  const sizes: { height: number; width: number }[] = [];
  if (latent) {
    let s = latent;
    for (let i = 0; i < cfg.down.length; i++) {
      sizes.push(s);
      s = { height: Math.ceil(s.height / 2), width: Math.ceil(s.width / 2) };
    }
  }
  const out: AttentionLayerInfo[] = [];
  const add = (prefix: string, place: AttentionLayerInfo['place'], level: number, a: NonNullable<ResolvedUNetConfig['down'][number]['attention']>, count: number) => {
    for (let j = 0; j < count; j++) {
      for (let t = 0; t < a.transformerLayers[j]!; t++) {
        for (const attn of ['attn1', 'attn2'] as const) {
          const kind = attn === 'attn2' || a.onlyCrossAttention ? 'cross' : 'self';
          const res = sizes[level];
          out.push({
            layer: `${prefix}.attentions.${j}.transformer_blocks.${t}.${attn}`, place, kind, heads: a.heads, headDim: a.headDim,
            keyDim: kind === 'cross' ? a.crossAttentionDim : a.innerDim, downscale: 2 ** level, resolution: res,
          });
        }
      }
    }
  };
  const deepest = cfg.down.length - 1;
  cfg.down.forEach((b, i) => b.attention && add(`down_blocks.${i}`, 'down', i, b.attention, b.resnets.length));
  if (cfg.mid) add('mid_block', 'mid', deepest, cfg.mid.attention, cfg.mid.layers);
  cfg.up.forEach((b, i) => b.attention && add(`up_blocks.${i}`, 'up', deepest - i, b.attention, b.resnets.length));
  return out;
}
