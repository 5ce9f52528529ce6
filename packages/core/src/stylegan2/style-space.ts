/**
 * The style space S (Wu et al., StyleSpace, arXiv 2011.12799): every synthesis layer's `affine` output. The order
 * is the one of TF StyleGAN2, StyleSpace and StyleCLIP global directions: per resolution the conv layers then ToRGB
 * (`b4.conv1, b4.torgb, b8.conv0, b8.conv1, b8.torgb, b16.conv0, ...`). A layer's style has `in_channels` entries;
 * ToRGB styles are stored BEFORE ToRGB's weight gain `1/√in` (as the reference's `affine` returns them).
 * W+ row indexing: `b4.conv1 ← ws[0]`, `b4.torgb ← ws[1]`; block k ≥ 1: `conv0 ← ws[2k−1]`, `conv1 ← ws[2k]`,
 * `torgb ← ws[2k+1]` (each ToRGB shares its row with the next block's conv0).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import type { ResolvedStyleGan2Config } from './config.js';
import { fullyConnected } from './mapping.js';
import type { FullyConnectedParams, StyleGan2Params, SynthesisLayerParams, ToRgbParams } from './params.js';

/**
 * One entry of the S space.
 *
 * @example
 * ```ts
 * styleLayers(cfg)[2]; // { index: 2, name: 'synthesis.b8.conv0', rosinalityName: 'convs.0', resolution: 8, layer: 'conv0',
 *                      //   kind: 'conv', channels: 64, wIndex: 1, offset: 128, convIndex: 1 }
 * ```
 */
export interface StyleLayer {
  /** Position in the S order. */
  index: number;
  /** NVLabs module path, e.g. `synthesis.b8.conv0`. */
  name: string;
  /** rosinality module name: `conv1`, `to_rgb1`, `convs.{i}`, `to_rgbs.{i}`. */
  rosinalityName: string;
  /** Block resolution. */
  resolution: number;
  /** Layer within the block. */
  layer: 'conv0' | 'conv1' | 'torgb';
  /** Modulated 3×3 conv, or ToRGB (StyleCLIP's global directions and S-space optimization skip ToRGB). */
  kind: 'conv' | 'torgb';
  /** Style size (the layer's input channels). */
  channels: number;
  /** W+ row feeding its affine. */
  wIndex: number;
  /** Start of this layer in the concatenated S vector. */
  offset: number;
  /** For conv layers: index among conv layers (the order of noise inputs); -1 for ToRGB. */
  convIndex: number;
}

/**
 * Style codes: one `[B, channels]` tensor per {@link StyleLayer}, in S order.
 *
 * @example
 * ```ts
 * const s: StyleCodes = wsToStyles(params, cfg, ws); // s.length === styleLayers(cfg).length
 * ```
 */
export type StyleCodes = tf.Tensor2D[];

/**
 * The S-space layout of a config (11 layers / 512 channels for the tiny fixtures, 26 / 9088 for FFHQ-1024).
 *
 * @param cfg resolved config
 * @example
 * ```ts
 * styleLayers(cfg).map((l) => l.name); // ['synthesis.b4.conv1', 'synthesis.b4.torgb', 'synthesis.b8.conv0', ...]
 * ```
 */
export function styleLayers(cfg: ResolvedStyleGan2Config): StyleLayer[] {
  const out: StyleLayer[] = [];
  let offset = 0;
  let conv = 0;
  const push = (res: number, layer: StyleLayer['layer'], channels: number, wIndex: number, rosinalityName: string) => {
    const kind = layer === 'torgb' ? 'torgb' : 'conv';
    out.push({
      index: out.length, name: `synthesis.b${res}.${layer}`, rosinalityName, resolution: res, layer, kind, channels, wIndex, offset,
      convIndex: kind === 'conv' ? conv++ : -1,
    });
    offset += channels;
  };
  cfg.blockResolutions.forEach((res, k) => {
    const out = cfg.blockChannels[k]!;
    if (k === 0) {
      push(res, 'conv1', out, 0, 'conv1');
      push(res, 'torgb', out, 1, 'to_rgb1');
      return;
    }
    push(res, 'conv0', cfg.blockChannels[k - 1]!, 2 * k - 1, `convs.${2 * k - 2}`);
    push(res, 'conv1', out, 2 * k, `convs.${2 * k - 1}`);
    push(res, 'torgb', out, 2 * k + 1, `to_rgbs.${k - 1}`);
  });
  return out;
}

/**
 * The parameters of one style layer.
 *
 * @param params generator params
 * @param layer  the layer
 * @example
 * ```ts
 * styleLayerParams(params, styleLayers(cfg)[0]!).affine.weight.shape; // [w_dim, C]
 * ```
 */
export function styleLayerParams(params: StyleGan2Params, layer: StyleLayer): SynthesisLayerParams | ToRgbParams {
  const block = params.synthesis[`b${layer.resolution}`];
  const p = block?.[layer.layer];
  if (!p) throw new OptionError('params', `${layer.name} is missing`);
  return p;
}

function affine(p: FullyConnectedParams, w: tf.Tensor2D): tf.Tensor2D {
  return fullyConnected(p, w, { lrMultiplier: 1 });
}

/**
 * W+ → S: every layer's affine output (ToRGB before its weight gain).
 *
 * @param params generator params
 * @param cfg    resolved config
 * @param ws     `[B, num_ws, w_dim]`
 * @returns one `[B, channels]` per style layer, in S order
 * @example
 * ```ts
 * const s = wsToStyles(params, cfg, ws); // s[0].shape: [B, 512] for FFHQ
 * ```
 */
export function wsToStyles(params: StyleGan2Params, cfg: ResolvedStyleGan2Config, ws: tf.Tensor3D): StyleCodes {
  assertWs(cfg, ws);
  return tf.tidy(() => {
    const rows = tf.unstack(ws, 1) as tf.Tensor2D[];
    return styleLayers(cfg).map((l) => affine(styleLayerParams(params, l).affine, rows[l.wIndex]!));
  });
}

/**
 * Throws {@link ShapeMismatchError} unless `ws` is `[B, num_ws, w_dim]`.
 *
 * @param cfg resolved config
 * @param ws  the W+ codes
 * @example
 * ```ts
 * assertWs(cfg, tf.zeros([1, 18, 512])); // ok for FFHQ-1024
 * ```
 */
export function assertWs(cfg: ResolvedStyleGan2Config, ws: tf.Tensor): asserts ws is tf.Tensor3D {
  if (ws.rank !== 3 || ws.shape[1] !== cfg.numWs || ws.shape[2] !== cfg.wDim) throw new ShapeMismatchError('ws', [null, cfg.numWs, cfg.wDim], ws.shape);
}

/**
 * Throws {@link ShapeMismatchError} unless `styles` has one `[B, channels]` tensor per style layer, same B.
 *
 * @param cfg    resolved config
 * @param styles style codes
 * @example
 * ```ts
 * assertStyles(cfg, wsToStyles(params, cfg, ws));
 * ```
 */
export function assertStyles(cfg: ResolvedStyleGan2Config, styles: readonly tf.Tensor[]): asserts styles is StyleCodes {
  const layers = styleLayers(cfg);
  if (styles.length !== layers.length) throw new ShapeMismatchError('styles (number of layers)', [layers.length], [styles.length]);
  const b = styles[0]!.shape[0]!;
  layers.forEach((l, i) => {
    const s = styles[i]!;
    if (s.rank !== 2 || s.shape[0] !== b || s.shape[1] !== l.channels) throw new ShapeMismatchError(`styles[${i}] (${l.name})`, [b, l.channels], s.shape);
  });
}

/**
 * Concatenates style codes into one S vector per sample, in S order.
 *
 * @param styles one `[B, C_l]` per layer
 * @returns `[B, ΣC_l]`
 * @example
 * ```ts
 * concatStyles(wsToStyles(params, cfg, ws)).shape; // [B, 512] for the tiny fixtures
 * ```
 */
export function concatStyles(styles: readonly tf.Tensor2D[]): tf.Tensor2D {
  return tf.concat(styles as tf.Tensor2D[], 1);
}

/**
 * Splits a concatenated S vector back into per-layer codes.
 *
 * @param cfg resolved config
 * @param s   `[B, ΣC_l]`
 * @returns one `[B, C_l]` per layer
 * @example
 * ```ts
 * splitStyles(cfg, concatStyles(styles)).length; // styleLayers(cfg).length
 * ```
 */
export function splitStyles(cfg: ResolvedStyleGan2Config, s: tf.Tensor2D): StyleCodes {
  const layers = styleLayers(cfg);
  const total = layers.reduce((a, l) => a + l.channels, 0);
  if (s.rank !== 2 || s.shape[1] !== total) throw new ShapeMismatchError('S', [null, total], s.shape);
  return tf.split(s, layers.map((l) => l.channels), 1) as tf.Tensor2D[];
}
