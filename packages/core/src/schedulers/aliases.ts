/**
 * Sampler names as users know them (`euler-a`, `dpm++2m-karras`, ...) mapped to a diffusers class plus config
 * overrides, applied to a pipeline's own `scheduler_config.json` the way diffusers' `Cls.from_config(cfg, **overrides)`
 * swaps a pipeline's scheduler: the training schedule (betas, offset, prediction type) stays, the sampler changes.
 * @module
 */
import { OptionError } from '../errors.js';
import { SCHEDULER_CLASS_NAMES, type SchedulerClassName, type SchedulerConfig } from './config.js';
import { createScheduler } from './registry.js';
import type { Scheduler } from './types.js';

/**
 * One short sampler name: the class and the config keys it sets.
 *
 * @example
 * ```ts
 * const a: SchedulerAlias = { className: 'EulerDiscreteScheduler', overrides: { use_karras_sigmas: true }, summary: 'Euler, Karras sigmas' };
 * ```
 */
export interface SchedulerAlias {
  readonly className: SchedulerClassName;
  readonly overrides: Readonly<SchedulerConfig>;
  readonly summary: string;
}

const NO_KARRAS = { use_karras_sigmas: false };
const KARRAS = { use_karras_sigmas: true };
const DPM2M = { algorithm_type: 'dpmsolver++', solver_order: 2 };
const DPM2M_SDE = { algorithm_type: 'sde-dpmsolver++', solver_order: 2 };

/**
 * The short sampler names (lower case). Each also sets the keys that define it (e.g. `euler` turns Karras sigmas
 * off even when the folder's config had them on), so a name means the same sampler for every pipeline.
 *
 * @example
 * ```ts
 * SCHEDULER_ALIASES['dpm++2m-karras']!.className; // 'DPMSolverMultistepScheduler'
 * ```
 */
export const SCHEDULER_ALIASES: Readonly<Record<string, SchedulerAlias>> = Object.freeze({
  ddim: { className: 'DDIMScheduler', overrides: {}, summary: 'DDIM (deterministic)' },
  pndm: { className: 'PNDMScheduler', overrides: {}, summary: 'PNDM as the config sets skip_prk_steps' },
  plms: { className: 'PNDMScheduler', overrides: { skip_prk_steps: true }, summary: 'PNDM without the Runge-Kutta warm-up (PLMS)' },
  euler: { className: 'EulerDiscreteScheduler', overrides: NO_KARRAS, summary: 'Euler' },
  'euler-karras': { className: 'EulerDiscreteScheduler', overrides: KARRAS, summary: 'Euler, Karras sigmas' },
  'euler-a': { className: 'EulerAncestralDiscreteScheduler', overrides: {}, summary: 'Euler ancestral (stochastic)' },
  heun: { className: 'HeunDiscreteScheduler', overrides: NO_KARRAS, summary: 'Heun (2 model calls per step)' },
  lms: { className: 'LMSDiscreteScheduler', overrides: NO_KARRAS, summary: 'linear multistep' },
  'lms-karras': { className: 'LMSDiscreteScheduler', overrides: KARRAS, summary: 'linear multistep, Karras sigmas' },
  'dpm++2m': { className: 'DPMSolverMultistepScheduler', overrides: { ...DPM2M, ...NO_KARRAS }, summary: 'DPM-Solver++ 2M' },
  'dpm++2m-karras': { className: 'DPMSolverMultistepScheduler', overrides: { ...DPM2M, ...KARRAS }, summary: 'DPM-Solver++ 2M, Karras sigmas' },
  'dpm++2m-sde': { className: 'DPMSolverMultistepScheduler', overrides: { ...DPM2M_SDE, ...NO_KARRAS }, summary: 'DPM-Solver++ 2M SDE (stochastic)' },
  'dpm++2m-sde-karras': {
    className: 'DPMSolverMultistepScheduler', overrides: { ...DPM2M_SDE, ...KARRAS }, summary: 'DPM-Solver++ 2M SDE, Karras sigmas (stochastic)',
  },
  unipc: { className: 'UniPCMultistepScheduler', overrides: {}, summary: 'UniPC (bh2 predictor-corrector)' },
  lcm: { className: 'LCMScheduler', overrides: {}, summary: 'latent consistency (for LCM-distilled models; stochastic)' },
});

/** Classes that sample (all but the inversion scheduler). */
const SAMPLER_CLASSES = SCHEDULER_CLASS_NAMES.filter((c) => c !== 'DDIMInverseScheduler');

/**
 * Every name {@link resolveSchedulerName} accepts: the short names, then the diffusers class names.
 *
 * @example
 * ```ts
 * schedulerNames(); // ['ddim', 'pndm', ..., 'lcm', 'DDIMScheduler', ...]
 * ```
 */
export function schedulerNames(): string[] {
  return [...Object.keys(SCHEDULER_ALIASES), ...SAMPLER_CLASSES];
}

/**
 * The class and overrides of a sampler name: a short name (any case) or a diffusers class name (any case;
 * `DDIMInverseScheduler` is not a sampler and is refused).
 *
 * @param name the name the user gave
 * @throws OptionError (option `scheduler`) listing the valid names
 * @example
 * ```ts
 * resolveSchedulerName('Euler-A').className; // 'EulerAncestralDiscreteScheduler'
 * resolveSchedulerName('HeunDiscreteScheduler').overrides; // {}
 * ```
 */
export function resolveSchedulerName(name: string): SchedulerAlias {
  const key = String(name).trim().toLowerCase();
  const alias = SCHEDULER_ALIASES[key];
  if (alias) return alias;
  const cls = SAMPLER_CLASSES.find((c) => c.toLowerCase() === key);
  if (cls) return { className: cls, overrides: {}, summary: cls };
  throw new OptionError('scheduler', `unknown scheduler "${name}"; valid names: ${schedulerNames().join(', ')}`);
}

/**
 * A pipeline's scheduler config switched to the named sampler: `base` with the name's overrides and class
 * (`Cls.from_config(base, **overrides)`); keys of the old class that the new one lacks are ignored when resolved.
 *
 * @param name a short name or class name (see {@link resolveSchedulerName})
 * @param base the pipeline's `scheduler_config.json`, parsed
 * @throws OptionError for an unknown name
 * @example
 * ```ts
 * const cfg = schedulerConfigForName('dpm++2m-karras', parseSchedulerConfigJson(readFileSync(file, 'utf8')));
 * const scheduler = createScheduler(cfg); // DPM-Solver++ 2M Karras on the folder's training schedule
 * ```
 */
export function schedulerConfigForName(name: string, base: Readonly<SchedulerConfig>): SchedulerConfig {
  const { className, overrides } = resolveSchedulerName(name);
  return { ...base, ...overrides, _class_name: className };
}

/**
 * Another sampler on the same training schedule as `current` (built from the config `current` was made from).
 *
 * @param current the pipeline's scheduler
 * @param name    a short name or class name
 * @throws OptionError for an unknown name; SchedulerConfigError when the folder's config does not fit the class
 * @example
 * ```ts
 * sd.scheduler = switchScheduler(sd.scheduler, 'euler-a');
 * ```
 */
export function switchScheduler(current: Scheduler, name: string): Scheduler {
  return createScheduler(schedulerConfigForName(name, current.config.source));
}
