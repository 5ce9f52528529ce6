import { InvalidConfigError, UnsupportedConfigError } from '../errors.js';
/**
 * `UNet2DConditionModel` configs: the diffusers `config.json` as is ({@link UNet2DConditionConfig}) and its
 * resolved form ({@link ResolvedUNetConfig}), made by {@link resolveUNetConfig}, the one place that fills
 * diffusers' defaults (v0.25) and normalizes its quirks. Models only ever see the resolved form.
 * @module
 */

type PerBlock<T> = T | T[];

/**
 * A diffusers `UNet2DConditionModel` `config.json`; every key verbatim, every key optional (diffusers'
 * defaults apply), so a file from the hub type-checks as is.
 *
 * @example
 * ```ts
 * const cfg: UNet2DConditionConfig = JSON.parse(readFileSync('unet/config.json', 'utf8'));
 * ```
 */
export interface UNet2DConditionConfig {
  _class_name?: string;
  _diffusers_version?: string;
  _name_or_path?: string;
  sample_size?: number | number[] | null;
  in_channels?: number;
  out_channels?: number;
  center_input_sample?: boolean;
  flip_sin_to_cos?: boolean;
  freq_shift?: number;
  down_block_types?: string[];
  mid_block_type?: string | null;
  up_block_types?: string[];
  only_cross_attention?: PerBlock<boolean>;
  block_out_channels?: number[];
  layers_per_block?: PerBlock<number>;
  downsample_padding?: number;
  mid_block_scale_factor?: number;
  dropout?: number;
  act_fn?: string;
  norm_num_groups?: number | null;
  norm_eps?: number;
  cross_attention_dim?: PerBlock<number>;
  transformer_layers_per_block?: PerBlock<number | number[]>;
  reverse_transformer_layers_per_block?: number[][] | null;
  encoder_hid_dim?: number | null;
  encoder_hid_dim_type?: string | null;
  attention_head_dim?: PerBlock<number>;
  num_attention_heads?: PerBlock<number> | null;
  dual_cross_attention?: boolean;
  use_linear_projection?: boolean;
  class_embed_type?: string | null;
  addition_embed_type?: string | null;
  addition_time_embed_dim?: number | null;
  num_class_embeds?: number | null;
  upcast_attention?: boolean;
  resnet_time_scale_shift?: string;
  resnet_skip_time_act?: boolean;
  resnet_out_scale_factor?: number;
  time_embedding_type?: string;
  time_embedding_dim?: number | null;
  time_embedding_act_fn?: string | null;
  timestep_post_act?: string | null;
  time_cond_proj_dim?: number | null;
  conv_in_kernel?: number;
  conv_out_kernel?: number;
  projection_class_embeddings_input_dim?: number | null;
  attention_type?: string;
  class_embeddings_concat?: boolean;
  mid_block_only_cross_attention?: boolean | null;
  cross_attention_norm?: string | null;
  addition_embed_type_num_heads?: number;
}

/**
 * The transformer (`Transformer2DModel`) stack after each resnet of a cross-attention block.
 *
 * @example
 * ```ts
 * const a: ResolvedAttention = { heads: 8, headDim: 40, innerDim: 320, crossAttentionDim: 768,
 *   onlyCrossAttention: false, transformerLayers: [1, 1] };
 * ```
 */
export interface ResolvedAttention {
  /** Number of heads (from `attention_head_dim`, see {@link resolveUNetConfig}). */
  heads: number;
  /** Channels per head: `floor(channels / heads)`. */
  headDim: number;
  /** `heads · headDim` (the transformer's width; equals the block's channels when divisible). */
  innerDim: number;
  /** Width of the encoder hidden states the cross-attention reads. */
  crossAttentionDim: number;
  /** `attn1` attends to the encoder hidden states too (no self-attention). */
  onlyCrossAttention: boolean;
  /** Transformer blocks per `Transformer2DModel`, one entry per resnet of the block. */
  transformerLayers: number[];
}

/**
 * One down or up block, with the channels of each of its resnets.
 *
 * @example
 * ```ts
 * cfg.down[0]; // { type: 'CrossAttnDownBlock2D', channels: 320, resnets: [{ inChannels: 320, outChannels: 320 }, ...], ... }
 * ```
 */
export interface ResolvedUNetBlock {
  type: 'CrossAttnDownBlock2D' | 'DownBlock2D' | 'CrossAttnUpBlock2D' | 'UpBlock2D';
  /** Output channels of the block. */
  channels: number;
  /** In/out channels of each resnet (up blocks: input includes the concatenated skip). */
  resnets: { inChannels: number; outChannels: number }[];
  /** Up blocks: channels of each consumed skip connection, per resnet. */
  skipChannels?: number[];
  /** The transformers, for cross-attention blocks. */
  attention: ResolvedAttention | null;
  /** A `Downsample2D` (down) or `Upsample2D` (up) follows the resnets. */
  resample: boolean;
}

/**
 * The mid block (`UNetMidBlock2DCrossAttn`: resnet, then (transformer, resnet) × layers).
 *
 * @example
 * ```ts
 * cfg.mid; // { channels: 1280, layers: 1, attention: { heads: 8, headDim: 160, ... }, outputScaleFactor: 1 }
 * ```
 */
export interface ResolvedMidBlock {
  channels: number;
  /** Number of (transformer, resnet) pairs after the first resnet (diffusers' `num_layers`, 1). */
  layers: number;
  attention: ResolvedAttention;
  /** `mid_block_scale_factor`. */
  outputScaleFactor: number;
}

/**
 * The resolved UNet config: camelCase, per-block arrays, defaults filled, quirks normalized.
 *
 * @example
 * ```ts
 * const cfg: ResolvedUNetConfig = resolveUNetConfig(json);
 * cfg.down.map((b) => b.attention?.heads); // [8, 8, 8, undefined] for SD 1.5
 * ```
 */
export interface ResolvedUNetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  centerInputSample: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  /** Width of the time embedding (`time_embedding_dim` or `4 · block_out_channels[0]`). */
  timeEmbedDim: number;
  normNumGroups: number;
  normEps: number;
  convInKernel: number;
  convOutKernel: number;
  downsamplePadding: number;
  /** SD2: `proj_in`/`proj_out` stored as linear weights; SD1: 1×1 convs. Both run as linear layers. */
  useLinearProjection: boolean;
  /** SD2's `upcast_attention`: computes QKᵀ in float32, a no-op here (everything is float32). */
  upcastAttention: boolean;
  /** Width of the encoder hidden states (the `cross_attention_dim` every block shares). */
  crossAttentionDim: number;
  down: ResolvedUNetBlock[];
  mid: ResolvedMidBlock | null;
  up: ResolvedUNetBlock[];
  sampleSize: number | number[] | null;
}

const MODEL = 'UNet2DConditionModel';
const INFORMATIONAL = new Set(['sample_size', 'dropout', 'addition_embed_type_num_heads']);
/** Keys whose value must equal the given default (anything else changes the model in ways not implemented). */
const MUST_EQUAL: Record<string, unknown> = {
  class_embed_type: null, addition_embed_type: null, num_class_embeds: null, encoder_hid_dim: null,
  encoder_hid_dim_type: null, time_embedding_type: 'positional', time_embedding_act_fn: null, timestep_post_act: null,
  time_cond_proj_dim: null, dual_cross_attention: false, attention_type: 'default', resnet_time_scale_shift: 'default',
  resnet_skip_time_act: false, num_attention_heads: null,
};
/**
 * Keys that only matter for block types, embeddings or projections we reject anyway (diffusers passes them to
 * `SimpleCrossAttn*`, `ResnetDownsampleBlock2D`, class/addition embeddings only).
 */
const NO_EFFECT = new Set([
  'addition_time_embed_dim', 'projection_class_embeddings_input_dim', 'class_embeddings_concat',
  'mid_block_only_cross_attention', 'cross_attention_norm', 'resnet_out_scale_factor',
]);
const STRUCTURAL = new Set([
  'in_channels', 'out_channels', 'center_input_sample', 'flip_sin_to_cos', 'freq_shift', 'down_block_types',
  'mid_block_type', 'up_block_types', 'only_cross_attention', 'block_out_channels', 'layers_per_block',
  'downsample_padding', 'mid_block_scale_factor', 'act_fn', 'norm_num_groups', 'norm_eps', 'cross_attention_dim',
  'transformer_layers_per_block', 'reverse_transformer_layers_per_block', 'attention_head_dim', 'use_linear_projection',
  'upcast_attention', 'time_embedding_dim', 'conv_in_kernel', 'conv_out_kernel',
]);

function checkKeys(json: Record<string, unknown>, source?: string): void {
  const bad: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key.startsWith('_') || INFORMATIONAL.has(key) || NO_EFFECT.has(key) || STRUCTURAL.has(key)) continue;
    if (Object.hasOwn(MUST_EQUAL, key)) {
      if (value !== MUST_EQUAL[key] && value !== undefined) bad.push(`${key}=${JSON.stringify(value)}`);
      continue;
    }
    bad.push(`${key} (unknown key)`);
  }
  const act = json['act_fn'];
  if (act !== undefined && act !== 'silu' && act !== 'swish') bad.push(`act_fn=${JSON.stringify(act)}`);
  if (json['norm_num_groups'] === null) bad.push('norm_num_groups=null');
  const mid = json['mid_block_type'];
  if (mid !== undefined && mid !== null && mid !== 'UNetMidBlock2DCrossAttn') bad.push(`mid_block_type=${JSON.stringify(mid)}`);
  if (bad.length) throw new UnsupportedConfigError(MODEL, bad, source);
}

function perBlock<T>(value: T | T[] | undefined, fallback: T, n: number, key: string, source?: string): T[] {
  const v = value ?? fallback;
  if (!Array.isArray(v)) return Array.from({ length: n }, () => v);
  if (v.length !== n) throw new InvalidConfigError(MODEL, key, `has ${v.length} entries, expected one per block (${n})`, source);
  return v;
}

function positiveInt(value: unknown, key: string, source?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidConfigError(MODEL, key, `must be a positive integer, got ${JSON.stringify(value)}`, source);
  }
  return value;
}

function transformerLayers(entry: number | number[], resnets: number, key: string, source?: string): number[] {
  if (typeof entry === 'number') return Array.from({ length: resnets }, () => positiveInt(entry, key, source));
  if (entry.length !== resnets) throw new InvalidConfigError(MODEL, key, `has ${entry.length} layer counts where the block has ${resnets} resnets`, source);
  return entry.map((e) => positiveInt(e, key, source));
}

function attention(channels: number, heads: number, cross: number, onlyCross: boolean, layers: number[], groups: number, source?: string): ResolvedAttention {
  positiveInt(heads, 'attention_head_dim', source);
  if (channels % groups !== 0) throw new InvalidConfigError(MODEL, 'norm_num_groups', `(${groups}) does not divide ${channels} channels`, source);
  const headDim = Math.floor(channels / heads);
  if (headDim < 1) throw new InvalidConfigError(MODEL, 'attention_head_dim', `${heads} heads do not fit ${channels} channels`, source);
  return { heads, headDim, innerDim: heads * headDim, crossAttentionDim: cross, onlyCrossAttention: onlyCross, transformerLayers: layers };
}

/**
 * Validates a diffusers UNet config, fills diffusers' defaults (v0.25 `UNet2DConditionModel.__init__`) and
 * normalizes its quirks:
 * - `attention_head_dim` is, for historical reasons, the NUMBER OF HEADS of each transformer
 *   (`num_attention_heads = num_attention_heads or attention_head_dim` in `unet_2d_condition.py`; the head size
 *   is `channels // heads`); `num_attention_heads` itself is refused there and here.
 * - ints or per-block lists for `attention_head_dim`, `cross_attention_dim`, `layers_per_block`,
 *   `only_cross_attention`, `transformer_layers_per_block` (also per resnet), all become per-block arrays;
 *   up blocks use them reversed (or `reverse_transformer_layers_per_block`).
 * - `upcast_attention` is kept but is a no-op in float32; `use_linear_projection` only changes the stored
 *   shape of `proj_in`/`proj_out`.
 * Settings that change the model in ways not implemented (class/addition embeddings, other time embeddings,
 * other block types, ...) throw {@link UnsupportedConfigError} naming them; malformed values throw
 * {@link InvalidConfigError}. `_`-prefixed keys and `sample_size`/`dropout` are informational.
 *
 * @param json   the parsed `config.json`
 * @param source file name for error messages
 * @example
 * ```ts
 * const cfg = resolveUNetConfig({ attention_head_dim: [5, 10, 20, 20], block_out_channels: [320, 640, 1280, 1280] });
 * cfg.down.map((b) => b.attention?.headDim); // [64, 64, 64, undefined]
 * ```
 */
export function resolveUNetConfig(json: UNet2DConditionConfig, source?: string): ResolvedUNetConfig {
  if (json._class_name !== undefined && json._class_name !== MODEL) {
    throw new UnsupportedConfigError(MODEL, [`_class_name=${JSON.stringify(json._class_name)}`], source);
  }
  checkKeys(json as Record<string, unknown>, source);
  const downTypes = json.down_block_types ?? ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'];
  const upTypes = json.up_block_types ?? ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'];
  const channels = (json.block_out_channels ?? [320, 640, 1280, 1280]).map((c) => positiveInt(c, 'block_out_channels', source));
  const n = channels.length;
  if (downTypes.length !== n) throw new InvalidConfigError(MODEL, 'down_block_types', `has ${downTypes.length} entries for ${n} block_out_channels`, source);
  if (upTypes.length !== n) throw new InvalidConfigError(MODEL, 'up_block_types', `has ${upTypes.length} entries for ${n} block_out_channels`, source);
  const badTypes = [
    ...downTypes.filter((t) => t !== 'CrossAttnDownBlock2D' && t !== 'DownBlock2D').map((t) => `down_block_types "${t}"`),
    ...upTypes.filter((t) => t !== 'CrossAttnUpBlock2D' && t !== 'UpBlock2D').map((t) => `up_block_types "${t}"`),
  ];
  if (badTypes.length) throw new UnsupportedConfigError(MODEL, badTypes, source);
  const heads = perBlock(json.attention_head_dim, 8, n, 'attention_head_dim', source);
  const cross = perBlock(json.cross_attention_dim, 1280, n, 'cross_attention_dim', source);
  const layers = perBlock(json.layers_per_block, 2, n, 'layers_per_block', source).map((l) => positiveInt(l, 'layers_per_block', source));
  const onlyCross = perBlock(json.only_cross_attention, false, n, 'only_cross_attention', source);
  const tLayers = perBlock<number | number[]>(json.transformer_layers_per_block, 1, n, 'transformer_layers_per_block', source);
  const reverseT = json.reverse_transformer_layers_per_block ?? null;
  if (reverseT === null && tLayers.some((t) => Array.isArray(t))) {
    throw new InvalidConfigError(MODEL, 'transformer_layers_per_block', 'has per-layer lists, which need reverse_transformer_layers_per_block', source);
  }
  const groups = positiveInt(json.norm_num_groups ?? 32, 'norm_num_groups', source);
  const usedCross = [...new Set(cross.filter((_, i) => downTypes[i] === 'CrossAttnDownBlock2D' || upTypes[n - 1 - i] === 'CrossAttnUpBlock2D' || i === n - 1))];
  if (usedCross.length > 1) throw new UnsupportedConfigError(MODEL, [`cross_attention_dim=${JSON.stringify(cross)} (blocks of different widths)`], source);

  const down: ResolvedUNetBlock[] = downTypes.map((type, i) => {
    const inCh = i === 0 ? channels[0]! : channels[i - 1]!;
    const out = channels[i]!;
    const hasAttn = type === 'CrossAttnDownBlock2D';
    return {
      type: type as ResolvedUNetBlock['type'], channels: out,
      resnets: Array.from({ length: layers[i]! }, (_, j) => ({ inChannels: j === 0 ? inCh : out, outChannels: out })),
      attention: hasAttn ? attention(out, heads[i]!, cross[i]!, onlyCross[i]!, transformerLayers(tLayers[i]!, layers[i]!, 'transformer_layers_per_block', source), groups, source) : null,
      resample: i < n - 1,
    };
  });
  const rev = <T>(a: T[]): T[] => [...a].reverse();
  const [rChannels, rHeads, rCross, rLayers, rOnly] = [rev(channels), rev(heads), rev(cross), rev(layers), rev(onlyCross)];
  const rT: (number | number[])[] = reverseT ?? rev(tLayers);
  if (rT.length !== n) throw new InvalidConfigError(MODEL, 'reverse_transformer_layers_per_block', `has ${rT.length} entries for ${n} blocks`, source);
  const up: ResolvedUNetBlock[] = upTypes.map((type, i) => {
    const prevOut = rChannels[Math.max(i - 1, 0)]!;
    const out = rChannels[i]!;
    const inCh = rChannels[Math.min(i + 1, n - 1)]!;
    const numLayers = rLayers[i]! + 1;
    const skips = Array.from({ length: numLayers }, (_, j) => (j === numLayers - 1 ? inCh : out));
    const hasAttn = type === 'CrossAttnUpBlock2D';
    return {
      type: type as ResolvedUNetBlock['type'], channels: out, skipChannels: skips,
      resnets: skips.map((skip, j) => ({ inChannels: (j === 0 ? prevOut : out) + skip, outChannels: out })),
      attention: hasAttn ? attention(out, rHeads[i]!, rCross[i]!, rOnly[i]!, transformerLayers(rT[i]!, numLayers, 'reverse_transformer_layers_per_block', source), groups, source) : null,
      resample: i < n - 1,
    };
  });
  for (const b of [...down, ...up]) {
    for (const r of b.resnets) {
      if (r.inChannels % groups !== 0 || r.outChannels % groups !== 0) {
        throw new InvalidConfigError(MODEL, 'norm_num_groups', `(${groups}) does not divide the ${r.inChannels} -> ${r.outChannels} channels of a resnet`, source);
      }
    }
  }
  const last = channels[n - 1]!;
  const midType = json.mid_block_type === undefined ? 'UNetMidBlock2DCrossAttn' : json.mid_block_type;
  // UNetMidBlock2DCrossAttn reads transformer_layers_per_block[-1]; with a per-layer list it uses its first entry.
  const lastT = tLayers[n - 1]!;
  const midT = Array.isArray(lastT) ? lastT.slice(0, 1) : lastT;
  const mid: ResolvedMidBlock | null = midType === null ? null : {
    channels: last, layers: 1, outputScaleFactor: json.mid_block_scale_factor ?? 1,
    attention: attention(last, heads[n - 1]!, cross[n - 1]!, false, transformerLayers(midT, 1, 'transformer_layers_per_block', source), groups, source),
  };
  return {
    inChannels: positiveInt(json.in_channels ?? 4, 'in_channels', source),
    outChannels: positiveInt(json.out_channels ?? 4, 'out_channels', source),
    blockOutChannels: channels,
    centerInputSample: json.center_input_sample ?? false,
    flipSinToCos: json.flip_sin_to_cos ?? true,
    freqShift: json.freq_shift ?? 0,
    timeEmbedDim: positiveInt(json.time_embedding_dim ?? channels[0]! * 4, 'time_embedding_dim', source),
    normNumGroups: groups,
    normEps: json.norm_eps ?? 1e-5,
    convInKernel: oddKernel(json.conv_in_kernel ?? 3, 'conv_in_kernel', source),
    convOutKernel: oddKernel(json.conv_out_kernel ?? 3, 'conv_out_kernel', source),
    downsamplePadding: json.downsample_padding ?? 1,
    useLinearProjection: json.use_linear_projection ?? false,
    upcastAttention: json.upcast_attention ?? false,
    crossAttentionDim: usedCross[0] ?? cross[0]!,
    down, mid, up,
    sampleSize: json.sample_size ?? null,
  };
}

function oddKernel(k: number, key: string, source?: string): number {
  if (positiveInt(k, key, source) % 2 !== 1) throw new InvalidConfigError(MODEL, key, `must be odd, got ${k}`, source);
  return k;
}
