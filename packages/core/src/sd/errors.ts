/**
 * Errors of the Stable Diffusion model configs: keys we do not support, and values that cannot describe a model.
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * A model config sets keys (or values) this implementation does not support; the message names every one.
 *
 * @example
 * ```ts
 * throw new UnsupportedConfigError('UNet2DConditionModel', ['class_embed_type="timestep"'], 'unet/config.json');
 * ```
 */
export class UnsupportedConfigError extends SemeditError {
  /**
   * @param model  the diffusers class the config is for, e.g. `UNet2DConditionModel`
   * @param keys   each offending key, with its value where that helps (`key="value"`)
   * @param source where the config came from (file), if known
   */
  constructor(readonly model: string, readonly keys: string[], readonly source?: string) {
    super('E_UNSUPPORTED_CONFIG', `${model} config${source ? ` (${source})` : ''}: unsupported ${keys.length === 1 ? 'setting' : 'settings'} ${keys.join(', ')}`);
  }
}

/**
 * A model config value is malformed or inconsistent (a list of the wrong length, channels not divisible by the
 * group count, ...).
 *
 * @example
 * ```ts
 * throw new InvalidConfigError('AutoencoderKL', 'up_block_types', 'must have one entry per block_out_channels');
 * ```
 */
export class InvalidConfigError extends SemeditError {
  /**
   * @param model  the diffusers class the config is for
   * @param key    the offending key
   * @param detail what is wrong with it
   * @param source where the config came from (file), if known
   */
  constructor(readonly model: string, readonly key: string, detail: string, readonly source?: string) {
    super('E_INVALID_CONFIG', `${model} config${source ? ` (${source})` : ''}: "${key}" ${detail}`);
  }
}
