/**
 * Errors of the StyleGAN2 configs and loaders: unknown config keys and checkpoints that hold no generator.
 * (Unsupported or malformed config values reuse `UnsupportedConfigError` / `InvalidConfigError`.)
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * A checkpoint was expected to hold a StyleGAN2 generator (an NVLabs `.pkl` with `G_ema`, a rosinality `.pt` with
 * `g_ema`) but does not.
 *
 * @example
 * ```ts
 * throw new MissingGeneratorError('network.pkl', 'G_ema', ['D', 'training_set_kwargs']);
 * ```
 */
export class MissingGeneratorError extends SemeditError {
  /**
   * @param file  the checkpoint
   * @param want  the entry looked for (e.g. `G_ema`)
   * @param found the top-level entries the file has
   */
  constructor(readonly file: string, readonly want: string, readonly found: string[]) {
    super('E_NO_GENERATOR', `${file} holds no StyleGAN2 generator: no "${want}" entry (top-level entries: ${found.length ? found.join(', ') : 'none'})`);
  }
}
