/**
 * The Stable Diffusion loading options the CLI commands share (`--config-dir`, `--scheduler`), checked before any
 * loading in the words the user typed: a `--config-dir` that is not a folder, or given with a diffusers folder
 * (which has its own configs and would ignore it), and an unknown scheduler name are refused.
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { OptionError } from '@semedit/core';
import { resolveSchedulerName } from '@semedit/core/schedulers';
import { optString } from './args.js';

/**
 * Checks `--config-dir` and `--scheduler` against the model path and returns the loader options.
 *
 * @param model  the model path given
 * @param values the parsed command line
 * @throws OptionError naming `config-dir` or `scheduler`
 * @example
 * ```ts
 * const opts = sdLoadOptions('v1-5-pruned.safetensors', { 'config-dir': 'sd15', scheduler: 'euler-a' });
 * const sd = await loadStableDiffusion('v1-5-pruned.safetensors', opts);
 * ```
 */
export function sdLoadOptions(model: string, values: Record<string, unknown>): { configDir: string | undefined; sampler: string | undefined } {
  const configDir = optString(values['config-dir'] as string | boolean | undefined);
  const sampler = optString(values['scheduler'] as string | boolean | undefined);
  if (configDir !== undefined) {
    if (!existsSync(configDir) || !statSync(configDir).isDirectory()) throw new OptionError('config-dir', `"${configDir}" is not a folder`);
    if (existsSync(model) && statSync(model).isDirectory()) {
      throw new OptionError('config-dir', `applies to a single-file checkpoint; the diffusers folder "${model}" has its own configs`);
    }
  }
  if (sampler !== undefined) resolveSchedulerName(sampler);
  return { configDir, sampler };
}
