/**
 * Loading a UNet from a diffusers model folder (`unet/` of a pipeline: `config.json` and
 * `diffusion_pytorch_model[.fp16].safetensors|.bin`).
 * @module
 */
import { readModelFolder, type ModelFolderOptions } from '../io/model-folder.js';
import { resolveUNetConfig, type UNet2DConditionConfig } from './config.js';
import { UNet2DConditionModel } from './unet.js';

/**
 * Options of {@link loadUNet}.
 *
 * @example
 * ```ts
 * const o: LoadUNetOptions = { variant: 'fp16' };
 * ```
 */
export interface LoadUNetOptions extends ModelFolderOptions {
  /** Use this config instead of the folder's `config.json`. */
  config?: UNet2DConditionConfig;
}

/**
 * Loads a `UNet2DConditionModel` from a diffusers folder through the strict loader: the config is resolved
 * (unsupported settings throw), every weight must be present with its shape, nothing may be left over.
 * float16 weights are widened to float32.
 *
 * @param dir  the model folder
 * @param opts weights variant, config override
 * @example
 * ```ts
 * const unet = await loadUNet('stable-diffusion-v1-5/unet');
 * unet.config.down.length; // 4
 * ```
 */
export async function loadUNet(dir: string, opts: LoadUNetOptions = {}): Promise<UNet2DConditionModel> {
  const folder = await readModelFolder(dir, opts);
  const cfg = resolveUNetConfig(opts.config ?? (folder.config as UNet2DConditionConfig), opts.config ? undefined : folder.configFile);
  return UNet2DConditionModel.fromWeights(folder.weights, cfg, { file: folder.weightsFiles.join(', ') });
}
