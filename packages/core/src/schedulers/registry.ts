/**
 * The scheduler registry: {@link createScheduler} builds the scheduler a diffusers config names in `_class_name`
 * (or another class from the same config, as `OtherScheduler.from_config(cfg)` does).
 * @module
 */
import { resolveSchedulerConfig, type ResolvedSchedulerConfig, type ResolveSchedulerOptions, type SchedulerClassName, type SchedulerConfig } from './config.js';
import { createDdimInverseScheduler } from './ddim-inverse.js';
import { createDdimScheduler } from './ddim.js';
import { createDpmSolverScheduler } from './dpm-solver.js';
import { createEulerAncestralScheduler } from './euler-ancestral.js';
import { createEulerScheduler } from './euler.js';
import { createHeunScheduler } from './heun.js';
import { createLcmScheduler } from './lcm.js';
import { createLmsScheduler } from './lms.js';
import { createPndmScheduler } from './pndm.js';
import { createUniPcScheduler } from './unipc.js';
import type { Scheduler } from './types.js';

/** Factory of each implemented class. */
const FACTORIES: Record<SchedulerClassName, (cfg: ResolvedSchedulerConfig) => Scheduler> = {
  DDIMScheduler: createDdimScheduler,
  DDIMInverseScheduler: createDdimInverseScheduler,
  PNDMScheduler: createPndmScheduler,
  EulerDiscreteScheduler: createEulerScheduler,
  EulerAncestralDiscreteScheduler: createEulerAncestralScheduler,
  HeunDiscreteScheduler: createHeunScheduler,
  LMSDiscreteScheduler: createLmsScheduler,
  DPMSolverMultistepScheduler: createDpmSolverScheduler,
  UniPCMultistepScheduler: createUniPcScheduler,
  LCMScheduler: createLcmScheduler,
};

/**
 * Creates the scheduler of a diffusers `scheduler_config.json` (validated by {@link resolveSchedulerConfig}).
 *
 * @param config the parsed config, or an already resolved one
 * @param opts   `className` to build another class from the same config, `file` for errors, `allowUnknownKeys`
 * @throws UnknownSchedulerError for an unknown `_class_name`; SchedulerConfigError for unsupported keys or values
 * @example
 * ```ts
 * const s = createScheduler(parseSchedulerConfigJson(readFileSync('scheduler/scheduler_config.json', 'utf8')));
 * const plan = s.setTimesteps(25);
 * const euler = createScheduler(json, { className: 'EulerDiscreteScheduler' }); // same schedule, other sampler
 * ```
 */
export function createScheduler(config: SchedulerConfig | ResolvedSchedulerConfig, opts: ResolveSchedulerOptions = {}): Scheduler {
  // A resolved config is rebuilt from its source when another class is asked for (`from_config` semantics).
  const resolved = isResolved(config)
    ? (opts.className === undefined ? config : resolveSchedulerConfig(config.source, opts))
    : resolveSchedulerConfig(config, opts);
  return FACTORIES[resolved.className](resolved);
}

function isResolved(c: SchedulerConfig | ResolvedSchedulerConfig): c is ResolvedSchedulerConfig {
  return typeof (c as ResolvedSchedulerConfig).className === 'string' && typeof (c as ResolvedSchedulerConfig).numTrainTimesteps === 'number';
}
