/**
 * `CLIPEncoderLayer` and `CLIPEncoder`, shared by the text and vision towers: pre-LN residual blocks
 * `x = x + attn(ln1(x)); x = x + mlp(ln2(x))`, returning every intermediate hidden state.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { clipAttention, type ClipAttentionParams } from './attention.js';
import type { ClipHiddenAct } from './config.js';
import { clipMlp, layerNorm, type ClipMlpParams, type LayerNormParams } from './layers.js';

/**
 * One `CLIPEncoderLayer`'s parameters (HF names: `encoder.layers.N.*`).
 *
 * @example
 * ```ts
 * const p: ClipEncoderLayerParams = params.text_model.encoder.layers[0]!;
 * ```
 */
export interface ClipEncoderLayerParams {
  self_attn: ClipAttentionParams;
  layer_norm1: LayerNormParams;
  mlp: ClipMlpParams;
  layer_norm2: LayerNormParams;
}

/**
 * `CLIPEncoder` parameters: the layers in order.
 *
 * @example
 * ```ts
 * params.vision_model.encoder.layers.length; // num_hidden_layers
 * ```
 */
export interface ClipEncoderParams {
  layers: ClipEncoderLayerParams[];
}

/**
 * What the encoder needs from a resolved config.
 *
 * @example
 * ```ts
 * const o: ClipEncoderOptions = { batch: 2, seqLen: 77, heads: 12, act: 'quick_gelu', eps: 1e-5 };
 * ```
 */
export interface ClipEncoderOptions {
  batch: number;
  seqLen: number;
  heads: number;
  act: ClipHiddenAct;
  /** `layer_norm_eps`. */
  eps: number;
  /** Additive attention bias `[B or 1, 1, L, L]` (the text tower's causal/padding mask). */
  bias?: tf.Tensor4D;
}

/**
 * One pre-LN transformer block (`CLIPEncoderLayer.forward`).
 *
 * @param p    the layer's parameters
 * @param x    `[B·L, C]`
 * @param opts sizes, activation, eps, mask
 * @returns `[B·L, C]`
 * @example
 * ```ts
 * const y = clipEncoderLayer(params.encoder.layers[0]!, x, { batch: 1, seqLen: 77, heads: 8, act: 'gelu', eps: 1e-5 });
 * ```
 */
export function clipEncoderLayer(p: ClipEncoderLayerParams, x: tf.Tensor2D, opts: ClipEncoderOptions): tf.Tensor2D {
  const attnOpts = { batch: opts.batch, seqLen: opts.seqLen, heads: opts.heads, bias: opts.bias };
  const h = tf.add<tf.Tensor2D>(x, clipAttention(p.self_attn, layerNorm(p.layer_norm1, x, opts.eps), attnOpts));
  return tf.add(h, clipMlp(p.mlp, layerNorm(p.layer_norm2, h, opts.eps), opts.act));
}

/**
 * Runs every layer (`CLIPEncoder.forward` with `output_hidden_states=True`).
 *
 * @param p    the encoder's layers
 * @param x    `[B·L, C]`, the embeddings (text) or the pre-LN embeddings (vision)
 * @param opts sizes, activation, eps, mask
 * @returns `[x, layer 1 output, …, layer N output]`, each `[B·L, C]` (transformers' `hidden_states` tuple)
 * @example
 * ```ts
 * const states = clipEncoder(p.encoder, x, opts); // states.length === num_hidden_layers + 1
 * ```
 */
export function clipEncoder(p: ClipEncoderParams, x: tf.Tensor2D, opts: ClipEncoderOptions): tf.Tensor2D[] {
  const states = [x];
  for (const layer of p.layers) states.push(clipEncoderLayer(layer, states[states.length - 1]!, opts));
  return states;
}
