/**
 * Loading Stable Diffusion single-file checkpoints in the original LDM layout (`v1-5-pruned.safetensors`,
 * `….ckpt`): the file is read once (safetensors, or a PyTorch zip whose tensors sit under `state_dict`), each
 * component's keys are selected by prefix and renamed through the tables of `ldm-keys.ts`, and the models are
 * built by the same strict loaders as diffusers folders. Entries real files carry besides the components
 * (`betas`, `alphas_cumprod*`, `model_ema.*`, ...) are ignored; a component key no rule maps is an error.
 * @module
 */
import { readCheckpoint } from '../io/checkpoint.js';
import { renameKeys, selectPrefix, UnexpectedWeightsError } from '../io/strict.js';
import type { RawTensor } from '../io/types.js';
import { resolveUNetConfig, type ResolvedUNetConfig, type UNet2DConditionConfig } from '../unet/config.js';
import { UNet2DConditionModel } from '../unet/unet.js';
import { resolveVaeConfig, type AutoencoderKLConfig, type ResolvedVaeConfig } from '../vae/config.js';
import { AutoencoderKL } from '../vae/vae.js';
import { LDM_PREFIXES, LDM_TEXT_ENCODER_BUFFERS, ldmUNetRenameRules, ldmVaeRenameRules } from './ldm-keys.js';

/**
 * Configs of the components to load from a single file (single files carry no configs).
 *
 * @example
 * ```ts
 * const c: SingleFileConfigs = { unet: unetJson, vae: vaeJson };
 * ```
 */
export interface SingleFileConfigs {
  unet?: UNet2DConditionConfig | ResolvedUNetConfig;
  vae?: AutoencoderKLConfig | ResolvedVaeConfig;
}

/**
 * What {@link loadSingleFile} returns.
 *
 * @example
 * ```ts
 * const { unet, vae, textEncoderWeights } = await loadSingleFile('v1-5-pruned-emaonly.safetensors', configs);
 * ```
 */
export interface SingleFileModels {
  unet?: UNet2DConditionModel;
  vae?: AutoencoderKL;
  /**
   * SD-1.x `cond_stage_model.transformer.*` tensors with the prefix removed (Hugging Face `CLIPTextModel` keys),
   * without the `position_ids` buffer.
   */
  textEncoderWeights: Map<string, RawTensor>;
  /** Keys outside every component (scheduler buffers, EMA copies, ...) and skipped buffers. */
  ignored: string[];
}

/** Where the state dict sits: at the top (safetensors) or under `state_dict/` (Lightning `.ckpt`). */
function stateDict(tensors: ReadonlyMap<string, RawTensor>): ReadonlyMap<string, RawTensor> {
  const nested = [...tensors.keys()].some((k) => k.startsWith(`state_dict/${LDM_PREFIXES.unet}`) || k.startsWith(`state_dict/${LDM_PREFIXES.vae}`));
  return nested ? selectPrefix(tensors, 'state_dict/') : tensors;
}

/**
 * The diffusers-keyed tensors of one component of an LDM state dict.
 *
 * @param sd        the state dict (full LDM keys)
 * @param component `unet` or `vae`
 * @param cfg       its resolved config (the rename tables depend on the block counts)
 * @param file      checkpoint name for errors
 * @throws UnexpectedWeightsError naming component keys no rule maps
 * @example
 * ```ts
 * const unetWeights = ldmComponentWeights(ck.tensors, 'unet', cfg, ck.file);
 * ```
 */
export function ldmComponentWeights(
  sd: ReadonlyMap<string, RawTensor>,
  component: 'unet' | 'vae',
  cfg: ResolvedUNetConfig | ResolvedVaeConfig,
  file?: string,
): Map<string, RawTensor> {
  const rules = component === 'unet' ? ldmUNetRenameRules(cfg as ResolvedUNetConfig) : ldmVaeRenameRules(cfg as ResolvedVaeConfig);
  const { map, unmatched } = renameKeys(selectPrefix(sd, LDM_PREFIXES[component]), rules, file ? { file } : {});
  if (unmatched.length) throw new UnexpectedWeightsError(unmatched.map((k) => `${LDM_PREFIXES[component]}${k}`), file);
  return map;
}

/**
 * Loads the UNet and/or VAE of an LDM single-file checkpoint (`.safetensors`, `.ckpt`; float16 widened to
 * float32), each through the strict diffusers-key loader.
 *
 * @param file    the checkpoint
 * @param configs configs of the components to load
 * @example
 * ```ts
 * const { unet, vae } = await loadSingleFile('v1-5-pruned-emaonly.safetensors', { unet: unetJson, vae: vaeJson });
 * ```
 */
export async function loadSingleFile(file: string, configs: SingleFileConfigs): Promise<SingleFileModels> {
  const ck = await readCheckpoint(file);
  const sd = stateDict(ck.tensors);
  const text = selectPrefix(sd, LDM_PREFIXES.textEncoder);
  const buffers = [...text.keys()].filter((k) => LDM_TEXT_ENCODER_BUFFERS.has(k));
  buffers.forEach((k) => text.delete(k));
  const outside = [...sd.keys()].filter((k) => !Object.values(LDM_PREFIXES).some((p) => k.startsWith(p)));
  const out: SingleFileModels = { textEncoderWeights: text, ignored: [...outside, ...buffers.map((k) => `${LDM_PREFIXES.textEncoder}${k}`)] };
  try {
    if (configs.unet) {
      const cfg = 'down' in configs.unet ? configs.unet : resolveUNetConfig(configs.unet);
      out.unet = UNet2DConditionModel.fromWeights(ldmComponentWeights(sd, 'unet', cfg, file), cfg, { file });
    }
    if (configs.vae) {
      const cfg = 'blockOutChannels' in configs.vae ? configs.vae : resolveVaeConfig(configs.vae);
      out.vae = AutoencoderKL.fromWeights(ldmComponentWeights(sd, 'vae', cfg, file), cfg, { file });
    }
  } catch (e) {
    out.unet?.dispose();
    throw e;
  }
  return out;
}
