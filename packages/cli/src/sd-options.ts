/**
 * The Stable Diffusion loading options the CLI commands share (`--config-dir`, `--scheduler`), checked before any
 * loading in the words the user typed: a `--config-dir` that is not a folder, or given with a diffusers folder
 * (which has its own configs and would ignore it), and an unknown scheduler name are refused.
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { OptionError } from '@semedit/core';
import { resolveSchedulerName } from '@semedit/core/schedulers';
import { numberOption, optString, requiredNumber } from './args.js';

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

/**
 * The model, prompt and generation flags `sega` and `edit` share (`--model`, `--prompt`, `--steps`, `--seed`,
 * `--cfg`, `--height`, `--width`, `--negative`), checked in the flags' names.
 *
 * @param command    the command, for the positional-argument message
 * @param values     the parsed command line
 * @param positionals its positional arguments (none allowed)
 * @example
 * ```ts
 * const g = generationFlags('sega', values, positionals);
 * g.steps; // 50 with the default
 * ```
 */
export function generationFlags(command: string, values: Record<string, unknown>, positionals: readonly string[]): {
  model: string; prompt: string; steps: number; seed: number; guidanceScale: number; height: number | undefined; width: number | undefined;
  negative: string | undefined;
} {
  if (positionals.length > 0) throw new OptionError(command, `takes no positional arguments (got "${positionals[0]}"); give the model with --model`);
  const model = values['model'];
  if (typeof model !== 'string') throw new OptionError('model', 'is required (a diffusers folder or a checkpoint file)');
  const prompt = values['prompt'];
  if (typeof prompt !== 'string' || prompt.trim() === '') throw new OptionError('prompt', 'is required');
  return {
    model, prompt, steps: requiredNumber('steps', values['steps'], { int: true, min: 1 }), seed: requiredNumber('seed', values['seed'], { int: true }),
    guidanceScale: requiredNumber('cfg', values['cfg']), height: numberOption('height', values['height'], { int: true, min: 1 }),
    width: numberOption('width', values['width'], { int: true, min: 1 }), negative: optString(values['negative'] as string | undefined),
  };
}
