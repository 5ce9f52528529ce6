/**
 * UNet parameter tree: its type (mirroring the diffusers module tree, keys verbatim), the exact list of
 * checkpoint tensors a resolved config needs with their PyTorch shapes, and the strict build from checkpoint
 * tensors. Layout changes made here, once: conv kernels OIHW → HWIO; linear weights `[out, in]` → `[in, out]`;
 * `proj_in`/`proj_out` (1×1 conv in SD1, linear in SD2) → linear `[in, out]`; the GEGLU `ff.net.0.proj` split
 * into its `hidden` and `gate` halves.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { takeExpected, type TakeOptions } from '../io/strict.js';
import type { RawTensor } from '../io/types.js';
import type { Conv2dParams } from '../nn/conv.js';
import type { NormParams } from '../nn/group-norm.js';
import { buildParamTree } from '../nn/weights.js';
import { linearWeightToInOut, rawToTensor } from '../tensor/layout.js';
import type { DownBlockParams, MidBlockParams, UpBlockParams } from './blocks.js';
import type { ResolvedAttention, ResolvedUNetConfig } from './config.js';
import type { TimestepEmbeddingParams } from './embeddings.js';

/**
 * The UNet's parameters, shaped like `UNet2DConditionModel`'s module tree:
 * `params.down_blocks[1].attentions[0].transformer_blocks[0].attn2.to_q.weight` is the checkpoint's
 * `down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.weight` (in `[in, out]` layout).
 *
 * @example
 * ```ts
 * unet.params.conv_in.weight.shape; // [3, 3, 4, 320]
 * ```
 */
export interface UNetParams {
  conv_in: Conv2dParams;
  time_embedding: TimestepEmbeddingParams;
  down_blocks: DownBlockParams[];
  mid_block?: MidBlockParams;
  up_blocks: UpBlockParams[];
  conv_norm_out: NormParams;
  conv_out: Conv2dParams;
}

type Shapes = Record<string, number[]>;

function resnetShapes(out: Shapes, prefix: string, cin: number, cout: number, temb: number): void {
  Object.assign(out, {
    [`${prefix}.norm1.weight`]: [cin], [`${prefix}.norm1.bias`]: [cin],
    [`${prefix}.conv1.weight`]: [cout, cin, 3, 3], [`${prefix}.conv1.bias`]: [cout],
    [`${prefix}.time_emb_proj.weight`]: [cout, temb], [`${prefix}.time_emb_proj.bias`]: [cout],
    [`${prefix}.norm2.weight`]: [cout], [`${prefix}.norm2.bias`]: [cout],
    [`${prefix}.conv2.weight`]: [cout, cout, 3, 3], [`${prefix}.conv2.bias`]: [cout],
  });
  if (cin !== cout) Object.assign(out, { [`${prefix}.conv_shortcut.weight`]: [cout, cin, 1, 1], [`${prefix}.conv_shortcut.bias`]: [cout] });
}

function transformerShapes(out: Shapes, prefix: string, channels: number, a: ResolvedAttention, layers: number, linearProj: boolean): void {
  const d = a.innerDim;
  const proj = (o: number, i: number) => (linearProj ? [o, i] : [o, i, 1, 1]);
  Object.assign(out, {
    [`${prefix}.norm.weight`]: [channels], [`${prefix}.norm.bias`]: [channels],
    [`${prefix}.proj_in.weight`]: proj(d, channels), [`${prefix}.proj_in.bias`]: [d],
    [`${prefix}.proj_out.weight`]: proj(channels, d), [`${prefix}.proj_out.bias`]: [channels],
  });
  for (let t = 0; t < layers; t++) {
    const b = `${prefix}.transformer_blocks.${t}`;
    for (const n of ['norm1', 'norm2', 'norm3']) Object.assign(out, { [`${b}.${n}.weight`]: [d], [`${b}.${n}.bias`]: [d] });
    for (const [attn, kv] of [['attn1', a.onlyCrossAttention ? a.crossAttentionDim : d], ['attn2', a.crossAttentionDim]] as const) {
      Object.assign(out, {
        [`${b}.${attn}.to_q.weight`]: [d, d], [`${b}.${attn}.to_k.weight`]: [d, kv], [`${b}.${attn}.to_v.weight`]: [d, kv],
        [`${b}.${attn}.to_out.0.weight`]: [d, d], [`${b}.${attn}.to_out.0.bias`]: [d],
      });
    }
    Object.assign(out, {
      [`${b}.ff.net.0.proj.weight`]: [8 * d, d], [`${b}.ff.net.0.proj.bias`]: [8 * d],
      [`${b}.ff.net.2.weight`]: [d, 4 * d], [`${b}.ff.net.2.bias`]: [d],
    });
  }
}

/**
 * Every tensor a UNet with this config has, with its shape as stored by PyTorch (conv `[out, in, kh, kw]`,
 * linear `[out, in]`).
 *
 * @param cfg resolved config
 * @example
 * ```ts
 * const shapes = unetWeightShapes(cfg);
 * shapes['conv_in.weight']; // [320, 4, 3, 3]
 * Object.keys(shapes).length; // 686 for SD 1.5
 * ```
 */
export function unetWeightShapes(cfg: ResolvedUNetConfig): Shapes {
  const out: Shapes = {};
  const c0 = cfg.blockOutChannels[0]!;
  const t = cfg.timeEmbedDim;
  const [ki, ko] = [cfg.convInKernel, cfg.convOutKernel];
  Object.assign(out, {
    'conv_in.weight': [c0, cfg.inChannels, ki, ki], 'conv_in.bias': [c0],
    'time_embedding.linear_1.weight': [t, c0], 'time_embedding.linear_1.bias': [t],
    'time_embedding.linear_2.weight': [t, t], 'time_embedding.linear_2.bias': [t],
    'conv_norm_out.weight': [c0], 'conv_norm_out.bias': [c0],
    'conv_out.weight': [cfg.outChannels, c0, ko, ko], 'conv_out.bias': [cfg.outChannels],
  });
  const blocks = [...cfg.down.map((b, i) => [b, `down_blocks.${i}`, 'downsamplers'] as const), ...cfg.up.map((b, i) => [b, `up_blocks.${i}`, 'upsamplers'] as const)];
  for (const [b, prefix, sampler] of blocks) {
    b.resnets.forEach((r, j) => {
      resnetShapes(out, `${prefix}.resnets.${j}`, r.inChannels, r.outChannels, t);
      if (b.attention) transformerShapes(out, `${prefix}.attentions.${j}`, b.channels, b.attention, b.attention.transformerLayers[j]!, cfg.useLinearProjection);
    });
    if (b.resample) Object.assign(out, { [`${prefix}.${sampler}.0.conv.weight`]: [b.channels, b.channels, 3, 3], [`${prefix}.${sampler}.0.conv.bias`]: [b.channels] });
  }
  if (cfg.mid) {
    const m = cfg.mid;
    for (let j = 0; j <= m.layers; j++) resnetShapes(out, `mid_block.resnets.${j}`, m.channels, m.channels, t);
    for (let j = 0; j < m.layers; j++) transformerShapes(out, `mid_block.attentions.${j}`, m.channels, m.attention, m.attention.transformerLayers[j]!, cfg.useLinearProjection);
  }
  return out;
}

/**
 * Converts a GEGLU projection `[2·inner, in]` (+ bias) to its two `[in, inner]` halves (hidden first, gate
 * second, as `proj(x).chunk(2, dim=-1)` splits them).
 */
function splitGeglu(weight: RawTensor, bias: RawTensor, key: string): { hidden: { weight: tf.Tensor2D; bias: tf.Tensor1D }; gate: { weight: tf.Tensor2D; bias: tf.Tensor1D } } {
  return tf.tidy(() => {
    const [w1, w2] = tf.split(linearWeightToInOut(weight, `${key}.weight`), 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    const [b1, b2] = tf.split(rawToTensor(bias, `${key}.bias`), 2, 0) as [tf.Tensor1D, tf.Tensor1D];
    return { hidden: { weight: w1, bias: b1 }, gate: { weight: w2, bias: b2 } };
  });
}

/**
 * Options of {@link buildUNetParams}.
 *
 * @example
 * ```ts
 * const o: UNetBuildOptions = { file: 'unet/diffusion_pytorch_model.safetensors' };
 * ```
 */
export type UNetBuildOptions = TakeOptions;

/**
 * Builds the UNet parameter tree from checkpoint tensors (diffusers keys), strictly: every expected tensor must
 * be present (`MissingWeightError` naming the key, the file and the nearest key) with its shape
 * (`ShapeMismatchError`), and leftovers are an `UnexpectedWeightsError` unless `allowLeftovers` accepts them.
 *
 * @param weights tensors by diffusers key (float16/bfloat16 widened or not: all become float32)
 * @param cfg     resolved config
 * @param opts    file name for errors, accepted leftovers
 * @example
 * ```ts
 * const ck = await readCheckpoint('unet/diffusion_pytorch_model.safetensors');
 * const params = buildUNetParams(ck.tensors, resolveUNetConfig(json), { file: ck.file });
 * ```
 */
export function buildUNetParams(weights: ReadonlyMap<string, RawTensor>, cfg: ResolvedUNetConfig, opts: UNetBuildOptions = {}): UNetParams {
  const { tensors } = takeExpected(weights, unetWeightShapes(cfg), opts);
  const geglu = new Map<string, RawTensor>();
  const rest = new Map<string, RawTensor>();
  for (const [k, v] of tensors) (/\.ff\.net\.0\.proj\.(weight|bias)$/.test(k) ? geglu : rest).set(k, v);
  const tree = buildParamTree(rest, { asLinear: (k) => /(^|\.)proj_(in|out)\.weight$/.test(k) }) as Record<string, unknown>;
  for (const [k, w] of geglu) {
    if (!k.endsWith('.weight')) continue;
    const prefix = k.slice(0, -'.weight'.length);
    const parts = prefix.split('.');
    let node = tree;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = splitGeglu(w, tensors.get(`${prefix}.bias`)!, prefix);
  }
  return tree as unknown as UNetParams;
}

