import { InvalidConfigError, UnknownConfigKeyError, UnsupportedConfigError } from '../errors.js';
/**
 * StyleGAN2 generator configs. {@link StyleGan2Config} is stylegan2-ada-pytorch's `Generator` kwargs with the
 * nested `mapping_kwargs` / `synthesis_kwargs` flattened into one object (upstream names verbatim);
 * {@link flattenNvlabsKwargs} makes it from the nested form (`config.json`, a `.pkl`'s `init_kwargs`),
 * {@link rosinalityToConfig} from rosinality's `Generator(size, style_dim, n_mlp, ...)` arguments, and
 * {@link resolveStyleGan2Config} fills the defaults and derives the layer plan. Unknown keys throw
 * {@link UnknownConfigKeyError}; settings not implemented throw `UnsupportedConfigError`.
 * @module
 */

const MODEL = 'StyleGAN2 Generator';

/**
 * stylegan2-ada-pytorch `Generator` kwargs, flattened (`mapping_kwargs.num_layers` is `num_layers`, ...).
 *
 * @example
 * ```ts
 * const ffhq: StyleGan2Config = { z_dim: 512, w_dim: 512, img_resolution: 1024, channel_base: 32768, channel_max: 512, conv_clamp: 256 };
 * ```
 */
export interface StyleGan2Config {
  /** Input latent (Z) size. */
  z_dim: number;
  /** Conditioning label size, 0 = unconditional (default 0). */
  c_dim?: number;
  /** Intermediate latent (W) size. */
  w_dim: number;
  /** Output resolution (a power of two, at least 4). */
  img_resolution: number;
  /** Output channels (default 3). */
  img_channels?: number;
  /** Mapping: number of FC layers (default 8). */
  num_layers?: number;
  /** Mapping: label embedding size (default `w_dim`). */
  embed_features?: number | null;
  /** Mapping: hidden FC width (default `w_dim`). */
  layer_features?: number | null;
  /** Mapping: activation, only `'lrelu'` (default). */
  activation?: string;
  /** Mapping: equalized-lr multiplier (default 0.01). */
  lr_multiplier?: number;
  /** Mapping: `w_avg` EMA decay, used only in training (default 0.995). */
  w_avg_beta?: number | null;
  /** Synthesis: overall width multiplier, channels = min(channel_base / res, channel_max) (default 32768). */
  channel_base?: number;
  /** Synthesis: maximum width (default 512). */
  channel_max?: number;
  /** Synthesis: layers at the highest N resolutions run in fp16 on CUDA; computed in float32 here (default 0). */
  num_fp16_res?: number;
  /** Synthesis: clamp of conv and ToRGB outputs, `null` = none (default null). */
  conv_clamp?: number | null;
  /** Synthesis: only `'skip'` (default). */
  architecture?: string;
  /** Synthesis: 1-D FIR taps of the resampling filter (default `[1, 3, 3, 1]`). */
  resample_filter?: number[];
  /** Synthesis: noise inputs exist (default true). */
  use_noise?: boolean;
  /** Synthesis: memory-format flag of the CUDA path; no effect here. */
  fp16_channels_last?: boolean;
  /**
   * Not a stylegan2-ada kwarg: explicit widths per resolution (`{ "4": 512, ... }`), overriding
   * `channel_base`/`channel_max`. Rosinality configs map their channel table to this.
   */
  channels?: Record<string, number>;
}

/**
 * The nested form stylegan2-ada writes (`G_kwargs`, a `.pkl`'s `init_kwargs`, the fixture's `config.json` kwargs).
 *
 * @example
 * ```ts
 * const k: NvlabsGeneratorKwargs = { z_dim: 512, w_dim: 512, c_dim: 0, img_resolution: 256, img_channels: 3,
 *   mapping_kwargs: { num_layers: 8 }, synthesis_kwargs: { channel_base: 16384, channel_max: 512, num_fp16_res: 4, conv_clamp: 256 } };
 * ```
 */
export interface NvlabsGeneratorKwargs {
  z_dim: number;
  c_dim?: number;
  w_dim: number;
  img_resolution: number;
  img_channels?: number;
  mapping_kwargs?: Record<string, unknown>;
  synthesis_kwargs?: Record<string, unknown>;
}

/**
 * rosinality/stylegan2-pytorch `Generator` constructor arguments.
 *
 * @example
 * ```ts
 * const r: RosinalityGeneratorConfig = { size: 1024, style_dim: 512, n_mlp: 8, channel_multiplier: 2 };
 * ```
 */
export interface RosinalityGeneratorConfig {
  size: number;
  style_dim: number;
  n_mlp: number;
  /** Default 2. */
  channel_multiplier?: number;
  /** Default `[1, 3, 3, 1]`. */
  blur_kernel?: number[];
  /** Default 0.01. */
  lr_mlp?: number;
}

/**
 * The resolved config the model functions use (camelCase, defaults filled, layer plan derived).
 *
 * @example
 * ```ts
 * const r = resolveStyleGan2Config({ z_dim: 32, w_dim: 32, img_resolution: 32 });
 * r.numWs; r.blockResolutions; // 8, [4, 8, 16, 32]
 * ```
 */
export interface ResolvedStyleGan2Config {
  zDim: number;
  cDim: number;
  wDim: number;
  imgResolution: number;
  imgChannels: number;
  numLayers: number;
  embedFeatures: number;
  layerFeatures: number;
  lrMultiplier: number;
  wAvgBeta: number | null;
  /** `[4, 8, ..., img_resolution]`. */
  blockResolutions: number[];
  /** Output width of each block, aligned with `blockResolutions`. */
  blockChannels: number[];
  /** Rows of W+: `2 * log2(img_resolution) - 2`. */
  numWs: number;
  convClamp: number | null;
  /** 1-D FIR taps; the 2-D filter is their outer product, normalized to sum 1. */
  resampleFilter: number[];
  numFp16Res: number;
  useNoise: boolean;
}

const TOP_KEYS = new Set(['z_dim', 'c_dim', 'w_dim', 'img_resolution', 'img_channels']);
const MAPPING_KEYS = new Set(['num_layers', 'embed_features', 'layer_features', 'activation', 'lr_multiplier', 'w_avg_beta']);
const SYNTHESIS_KEYS = new Set([
  'channel_base', 'channel_max', 'num_fp16_res', 'conv_clamp', 'architecture', 'resample_filter', 'use_noise', 'fp16_channels_last',
]);
const FLAT_KEYS = new Set([...TOP_KEYS, ...MAPPING_KEYS, ...SYNTHESIS_KEYS, 'channels']);

/**
 * Flattens stylegan2-ada's nested `Generator` kwargs into a {@link StyleGan2Config}.
 *
 * @param kwargs nested kwargs (`mapping_kwargs`, `synthesis_kwargs`)
 * @param source file name for errors
 * @throws UnknownConfigKeyError naming every unknown key (dotted when nested)
 * @example
 * ```ts
 * flattenNvlabsKwargs({ z_dim: 32, w_dim: 32, img_resolution: 32, mapping_kwargs: { num_layers: 2 } }).num_layers; // 2
 * ```
 */
export function flattenNvlabsKwargs(kwargs: Record<string, unknown>, source?: string): StyleGan2Config {
  const out: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(kwargs)) {
    if (k === 'mapping_kwargs' || k === 'synthesis_kwargs') {
      const allowed = k === 'mapping_kwargs' ? MAPPING_KEYS : SYNTHESIS_KEYS;
      for (const [kk, vv] of Object.entries((v ?? {}) as Record<string, unknown>)) {
        if (allowed.has(kk)) out[kk] = vv;
        else unknown.push(`${k}.${kk}`);
      }
    } else if (TOP_KEYS.has(k)) out[k] = v;
    else unknown.push(k);
  }
  if (unknown.length) throw new UnknownConfigKeyError(unknown, source);
  return out as unknown as StyleGan2Config;
}

/**
 * Rosinality's channel table `{4..32: 512, 64: 256·m, 128: 128·m, 256: 64·m, 512: 32·m, 1024: 16·m}`.
 *
 * @param channelMultiplier `channel_multiplier` (default 2)
 * @example
 * ```ts
 * rosinalityChannels(2)['64']; // 512
 * ```
 */
export function rosinalityChannels(channelMultiplier = 2): Record<string, number> {
  const m = channelMultiplier;
  return { 4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * m, 128: 128 * m, 256: 64 * m, 512: 32 * m, 1024: 16 * m };
}

/**
 * Maps rosinality `Generator` arguments to a {@link StyleGan2Config} (same network, other names).
 *
 * @param cfg      rosinality arguments
 * @param channels explicit widths per resolution, replacing rosinality's table (e.g. a fixture's `channels_override`)
 * @param source   file name for errors
 * @throws UnknownConfigKeyError for keys rosinality's `Generator` does not take
 * @example
 * ```ts
 * rosinalityToConfig({ size: 256, style_dim: 512, n_mlp: 8 }).channels?.['256']; // 128
 * ```
 */
export function rosinalityToConfig(cfg: RosinalityGeneratorConfig, channels?: Record<string, number>, source?: string): StyleGan2Config {
  const known = new Set(['size', 'style_dim', 'n_mlp', 'channel_multiplier', 'blur_kernel', 'lr_mlp']);
  const unknown = Object.keys(cfg).filter((k) => !known.has(k));
  if (unknown.length) throw new UnknownConfigKeyError(unknown, source);
  return {
    z_dim: cfg.style_dim, w_dim: cfg.style_dim, c_dim: 0, img_resolution: cfg.size, img_channels: 3,
    num_layers: cfg.n_mlp, lr_multiplier: cfg.lr_mlp ?? 0.01, resample_filter: cfg.blur_kernel ?? [1, 3, 3, 1],
    conv_clamp: null, num_fp16_res: 0, channels: channels ?? rosinalityChannels(cfg.channel_multiplier ?? 2),
  };
}

function posInt(v: unknown, key: string, source?: string, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new InvalidConfigError(MODEL, key, `must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}`, source);
  }
  return v;
}

/**
 * Validates a flat config, fills stylegan2-ada's defaults and derives the block plan.
 *
 * @param cfg    the flat config
 * @param source file name for errors
 * @throws UnknownConfigKeyError, InvalidConfigError (bad values), UnsupportedConfigError (architecture other
 *   than skip, activation other than lrelu)
 * @example
 * ```ts
 * resolveStyleGan2Config({ z_dim: 512, w_dim: 512, img_resolution: 1024 }).blockChannels; // [512, 512, 512, 512, 512, 256, 128, 64, 32]
 * ```
 */
export function resolveStyleGan2Config(cfg: StyleGan2Config, source?: string): ResolvedStyleGan2Config {
  const unknown = Object.keys(cfg).filter((k) => !FLAT_KEYS.has(k));
  if (unknown.length) throw new UnknownConfigKeyError(unknown, source);
  const unsupported: string[] = [];
  if ((cfg.architecture ?? 'skip') !== 'skip') unsupported.push(`architecture="${cfg.architecture}"`);
  if ((cfg.activation ?? 'lrelu') !== 'lrelu') unsupported.push(`activation="${cfg.activation}"`);
  if (unsupported.length) throw new UnsupportedConfigError(MODEL, unsupported, source);

  const imgResolution = posInt(cfg.img_resolution, 'img_resolution', source);
  const log2 = Math.log2(imgResolution);
  if (!Number.isInteger(log2) || imgResolution < 4) {
    throw new InvalidConfigError(MODEL, 'img_resolution', `must be a power of two >= 4, got ${imgResolution}`, source);
  }
  const wDim = posInt(cfg.w_dim, 'w_dim', source);
  const blockResolutions = Array.from({ length: log2 - 1 }, (_, i) => 2 ** (i + 2));
  const channelBase = cfg.channel_base ?? 32768;
  const channelMax = cfg.channel_max ?? 512;
  const blockChannels = blockResolutions.map((res) => {
    if (cfg.channels) {
      const c = cfg.channels[String(res)];
      if (c === undefined) throw new InvalidConfigError(MODEL, 'channels', `has no width for resolution ${res}`, source);
      return posInt(c, `channels.${res}`, source);
    }
    return Math.min(Math.floor(channelBase / res), channelMax);
  });
  const filter = cfg.resample_filter ?? [1, 3, 3, 1];
  if (!Array.isArray(filter) || filter.length < 1 || filter.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new InvalidConfigError(MODEL, 'resample_filter', `must be a list of numbers, got ${JSON.stringify(filter)}`, source);
  }
  const clamp = cfg.conv_clamp ?? null;
  if (clamp !== null && !(typeof clamp === 'number' && clamp > 0)) {
    throw new InvalidConfigError(MODEL, 'conv_clamp', `must be a positive number or null, got ${JSON.stringify(clamp)}`, source);
  }
  const lr = cfg.lr_multiplier ?? 0.01;
  if (!(typeof lr === 'number' && lr > 0)) throw new InvalidConfigError(MODEL, 'lr_multiplier', `must be positive, got ${JSON.stringify(lr)}`, source);
  return {
    zDim: posInt(cfg.z_dim, 'z_dim', source, true),
    cDim: posInt(cfg.c_dim ?? 0, 'c_dim', source, true),
    wDim,
    imgResolution,
    imgChannels: posInt(cfg.img_channels ?? 3, 'img_channels', source),
    numLayers: posInt(cfg.num_layers ?? 8, 'num_layers', source),
    embedFeatures: posInt(cfg.embed_features ?? wDim, 'embed_features', source),
    layerFeatures: posInt(cfg.layer_features ?? wDim, 'layer_features', source),
    lrMultiplier: lr,
    wAvgBeta: cfg.w_avg_beta === undefined ? 0.995 : cfg.w_avg_beta,
    blockResolutions,
    blockChannels,
    numWs: 2 * log2 - 2,
    convClamp: clamp,
    resampleFilter: [...filter],
    numFp16Res: posInt(cfg.num_fp16_res ?? 0, 'num_fp16_res', source, true),
    useNoise: cfg.use_noise ?? true,
  };
}
