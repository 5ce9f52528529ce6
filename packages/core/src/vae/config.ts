import { InvalidConfigError, UnsupportedConfigError } from '../errors.js';
/**
 * `AutoencoderKL` configs: the diffusers `config.json` as is ({@link AutoencoderKLConfig}) and its resolved form
 * ({@link ResolvedVaeConfig}) made by {@link resolveVaeConfig}, which fills diffusers' defaults and rejects
 * settings not implemented.
 * @module
 */

/**
 * A diffusers `AutoencoderKL` `config.json`, keys verbatim, all optional (diffusers' defaults apply).
 *
 * @example
 * ```ts
 * const cfg: AutoencoderKLConfig = JSON.parse(readFileSync('vae/config.json', 'utf8'));
 * ```
 */
export interface AutoencoderKLConfig {
  _class_name?: string;
  _diffusers_version?: string;
  _name_or_path?: string;
  in_channels?: number;
  out_channels?: number;
  down_block_types?: string[];
  up_block_types?: string[];
  block_out_channels?: number[];
  layers_per_block?: number;
  act_fn?: string;
  latent_channels?: number;
  norm_num_groups?: number;
  sample_size?: number | number[];
  scaling_factor?: number;
  shift_factor?: number | null;
  latents_mean?: number[] | null;
  latents_std?: number[] | null;
  force_upcast?: boolean;
  use_quant_conv?: boolean;
  use_post_quant_conv?: boolean;
  mid_block_add_attention?: boolean;
}

/**
 * The resolved VAE config (camelCase, defaults filled).
 *
 * @example
 * ```ts
 * resolveVaeConfig({ block_out_channels: [128, 256, 512, 512] }).scalingFactor; // 0.18215
 * ```
 */
export interface ResolvedVaeConfig {
  inChannels: number;
  outChannels: number;
  /** Encoder level widths; the decoder runs them in reverse. */
  blockOutChannels: number[];
  /** Resnets per encoder level (the decoder has one more). */
  layersPerBlock: number;
  latentChannels: number;
  normNumGroups: number;
  /** Pipelines scale latents by this after encoding and divide by it before decoding (0.18215 for SD). */
  scalingFactor: number;
  /** Pipelines subtract this before scaling (SD3/Flux); 0 when absent. */
  shiftFactor: number;
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  midBlockAddAttention: boolean;
  /** diffusers' hint to decode in float32; always the case here. */
  forceUpcast: boolean;
}

const MODEL = 'AutoencoderKL';
const KNOWN = new Set([
  'in_channels', 'out_channels', 'down_block_types', 'up_block_types', 'block_out_channels', 'layers_per_block', 'act_fn',
  'latent_channels', 'norm_num_groups', 'sample_size', 'scaling_factor', 'shift_factor', 'latents_mean', 'latents_std',
  'force_upcast', 'use_quant_conv', 'use_post_quant_conv', 'mid_block_add_attention',
]);

function positiveInt(v: unknown, key: string, source?: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidConfigError(MODEL, key, `must be a positive integer, got ${JSON.stringify(v)}`, source);
  return v;
}

/**
 * Validates a diffusers VAE config and fills diffusers' defaults (`AutoencoderKL.__init__`): only
 * `DownEncoderBlock2D` / `UpDecoderBlock2D` blocks and SiLU; `latents_mean`/`latents_std` (per-channel latent
 * statistics) are not supported. Unknown keys throw {@link UnsupportedConfigError}; `_`-prefixed keys and
 * `sample_size` are informational.
 *
 * @param json   the parsed `config.json`
 * @param source file name for error messages
 * @example
 * ```ts
 * const cfg = resolveVaeConfig(JSON.parse(readFileSync('vae/config.json', 'utf8')), 'vae/config.json');
 * ```
 */
export function resolveVaeConfig(json: AutoencoderKLConfig, source?: string): ResolvedVaeConfig {
  const bad: string[] = [];
  if (json._class_name !== undefined && json._class_name !== MODEL) bad.push(`_class_name=${JSON.stringify(json._class_name)}`);
  for (const key of Object.keys(json)) if (!key.startsWith('_') && !KNOWN.has(key)) bad.push(`${key} (unknown key)`);
  if (json.act_fn !== undefined && json.act_fn !== 'silu' && json.act_fn !== 'swish') bad.push(`act_fn=${JSON.stringify(json.act_fn)}`);
  for (const key of ['latents_mean', 'latents_std'] as const) if (json[key] != null) bad.push(`${key} (per-channel latent statistics)`);
  const channels = (json.block_out_channels ?? [64]).map((c) => positiveInt(c, 'block_out_channels', source));
  const down = json.down_block_types ?? channels.map(() => 'DownEncoderBlock2D');
  const up = json.up_block_types ?? channels.map(() => 'UpDecoderBlock2D');
  bad.push(...down.filter((t) => t !== 'DownEncoderBlock2D').map((t) => `down_block_types "${t}"`));
  bad.push(...up.filter((t) => t !== 'UpDecoderBlock2D').map((t) => `up_block_types "${t}"`));
  if (bad.length) throw new UnsupportedConfigError(MODEL, bad, source);
  if (down.length !== channels.length) throw new InvalidConfigError(MODEL, 'down_block_types', `has ${down.length} entries for ${channels.length} block_out_channels`, source);
  if (up.length !== channels.length) throw new InvalidConfigError(MODEL, 'up_block_types', `has ${up.length} entries for ${channels.length} block_out_channels`, source);
  const groups = positiveInt(json.norm_num_groups ?? 32, 'norm_num_groups', source);
  for (const c of channels) if (c % groups !== 0) throw new InvalidConfigError(MODEL, 'norm_num_groups', `(${groups}) does not divide ${c} channels`, source);
  const scalingFactor = json.scaling_factor ?? 0.18215;
  if (!(scalingFactor > 0)) throw new InvalidConfigError(MODEL, 'scaling_factor', `must be positive, got ${scalingFactor}`, source);
  return {
    inChannels: positiveInt(json.in_channels ?? 3, 'in_channels', source),
    outChannels: positiveInt(json.out_channels ?? 3, 'out_channels', source),
    blockOutChannels: channels,
    layersPerBlock: positiveInt(json.layers_per_block ?? 1, 'layers_per_block', source),
    latentChannels: positiveInt(json.latent_channels ?? 4, 'latent_channels', source),
    normNumGroups: groups,
    scalingFactor,
    shiftFactor: json.shift_factor ?? 0,
    useQuantConv: json.use_quant_conv ?? true,
    usePostQuantConv: json.use_post_quant_conv ?? true,
    midBlockAddAttention: json.mid_block_add_attention ?? true,
    forceUpcast: json.force_upcast ?? true,
  };
}
