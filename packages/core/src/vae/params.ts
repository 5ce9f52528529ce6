/**
 * VAE parameter tree: its type (diffusers keys verbatim), the exact tensors a config needs with their PyTorch
 * shapes, legacy key normalization, and the strict build. Layout changes made here, once: conv kernels OIHW →
 * HWIO, linear weights `[out, in]` → `[in, out]`.
 * @module
 */
import { RenameCollisionError, takeExpected, type TakeOptions } from '../io/strict.js';
import type { RawTensor } from '../io/types.js';
import type { Conv2dParams } from '../nn/conv.js';
import { buildParamTree } from '../nn/weights.js';
import type { ResolvedVaeConfig } from './config.js';
import type { VaeDecoderParams } from './decoder.js';
import type { VaeEncoderParams } from './encoder.js';

/**
 * `AutoencoderKL` parameters, shaped like its module tree.
 *
 * @example
 * ```ts
 * vae.params.decoder.conv_out.weight.shape; // [3, 3, 128, 3]
 * ```
 */
export interface VaeParams {
  encoder: VaeEncoderParams;
  decoder: VaeDecoderParams;
  quant_conv?: Conv2dParams;
  post_quant_conv?: Conv2dParams;
}

type Shapes = Record<string, number[]>;

function resnet(out: Shapes, prefix: string, cin: number, cout: number): void {
  Object.assign(out, {
    [`${prefix}.norm1.weight`]: [cin], [`${prefix}.norm1.bias`]: [cin],
    [`${prefix}.conv1.weight`]: [cout, cin, 3, 3], [`${prefix}.conv1.bias`]: [cout],
    [`${prefix}.norm2.weight`]: [cout], [`${prefix}.norm2.bias`]: [cout],
    [`${prefix}.conv2.weight`]: [cout, cout, 3, 3], [`${prefix}.conv2.bias`]: [cout],
  });
  if (cin !== cout) Object.assign(out, { [`${prefix}.conv_shortcut.weight`]: [cout, cin, 1, 1], [`${prefix}.conv_shortcut.bias`]: [cout] });
}

function midBlock(out: Shapes, prefix: string, c: number, attention: boolean): void {
  resnet(out, `${prefix}.resnets.0`, c, c);
  resnet(out, `${prefix}.resnets.1`, c, c);
  if (!attention) return;
  const a = `${prefix}.attentions.0`;
  out[`${a}.group_norm.weight`] = [c];
  out[`${a}.group_norm.bias`] = [c];
  for (const l of ['to_q', 'to_k', 'to_v', 'to_out.0']) Object.assign(out, { [`${a}.${l}.weight`]: [c, c], [`${a}.${l}.bias`]: [c] });
}

/**
 * Every tensor a VAE with this config has, with its PyTorch shape.
 *
 * @param cfg resolved config
 * @example
 * ```ts
 * vaeWeightShapes(cfg)['quant_conv.weight']; // [8, 8, 1, 1]
 * ```
 */
export function vaeWeightShapes(cfg: ResolvedVaeConfig): Shapes {
  const out: Shapes = {};
  const ch = cfg.blockOutChannels;
  const n = ch.length;
  const last = ch[n - 1]!;
  const lat = cfg.latentChannels;
  const conv = (key: string, o: number, i: number, k: number) => Object.assign(out, { [`${key}.weight`]: [o, i, k, k], [`${key}.bias`]: [o] });
  const norm = (key: string, c: number) => Object.assign(out, { [`${key}.weight`]: [c], [`${key}.bias`]: [c] });
  conv('encoder.conv_in', ch[0]!, cfg.inChannels, 3);
  ch.forEach((c, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) resnet(out, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? ch[Math.max(i - 1, 0)]! : c, c);
    if (i < n - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, c, c, 3);
  });
  midBlock(out, 'encoder.mid_block', last, cfg.midBlockAddAttention);
  norm('encoder.conv_norm_out', last);
  conv('encoder.conv_out', 2 * lat, last, 3);
  if (cfg.useQuantConv) conv('quant_conv', 2 * lat, 2 * lat, 1);
  if (cfg.usePostQuantConv) conv('post_quant_conv', lat, lat, 1);
  conv('decoder.conv_in', last, lat, 3);
  midBlock(out, 'decoder.mid_block', last, cfg.midBlockAddAttention);
  const rev = [...ch].reverse();
  rev.forEach((c, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) resnet(out, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? rev[Math.max(i - 1, 0)]! : c, c);
    if (i < n - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c, 3);
  });
  norm('decoder.conv_norm_out', ch[0]!);
  conv('decoder.conv_out', cfg.outChannels, ch[0]!, 3);
  return out;
}

const LEGACY_ATTENTION: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };

/**
 * Normalizes older VAE checkpoints to diffusers' current keys and shapes, as diffusers'
 * `_convert_deprecated_attention_blocks` and the LDM converter do: mid attention `query`/`key`/`value`/
 * `proj_attn` become `to_q`/`to_k`/`to_v`/`to_out.0`, and attention projections stored as 1×1 conv kernels
 * `[C, C, 1, 1]` become `[C, C]`. Other keys pass unchanged; the input map is not modified.
 *
 * @param weights tensors by key
 * @example
 * ```ts
 * normalizeVaeKeys(new Map([['decoder.mid_block.attentions.0.query.weight', w]])); // key 'decoder.mid_block.attentions.0.to_q.weight'
 * ```
 */
export function normalizeVaeKeys(weights: ReadonlyMap<string, RawTensor>): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const from = new Map<string, string>();
  for (const [key, raw] of weights) {
    const m = /^(.*\.mid_block\.attentions\.\d+\.)(query|key|value|proj_attn|to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(key);
    if (!m) {
      if (from.has(key)) throw new RenameCollisionError(key, [from.get(key)!, key]);
      from.set(key, key);
      out.set(key, raw);
      continue;
    }
    const name = LEGACY_ATTENTION[m[2]!] ?? m[2]!;
    const s = raw.shape;
    const flat = s.length === 4 && s[2] === 1 && s[3] === 1 ? { ...raw, shape: [s[0]!, s[1]!] } : raw;
    const target = `${m[1]}${name}.${m[3]}`;
    const prev = from.get(target);
    if (prev !== undefined) throw new RenameCollisionError(target, [prev, key]);
    from.set(target, key);
    out.set(target, flat);
  }
  return out;
}

/**
 * Builds the VAE parameter tree strictly (every tensor present with its shape; leftovers rejected unless
 * allowed), after {@link normalizeVaeKeys}.
 *
 * @param weights tensors by diffusers key (without a `vae.` prefix)
 * @param cfg     resolved config
 * @param opts    file name for errors, accepted leftovers
 * @example
 * ```ts
 * const params = buildVaeParams((await readCheckpoint(file)).tensors, cfg, { file });
 * ```
 */
export function buildVaeParams(weights: ReadonlyMap<string, RawTensor>, cfg: ResolvedVaeConfig, opts: TakeOptions = {}): VaeParams {
  const { tensors } = takeExpected(normalizeVaeKeys(weights), vaeWeightShapes(cfg), opts);
  return buildParamTree(tensors) as unknown as VaeParams;
}
