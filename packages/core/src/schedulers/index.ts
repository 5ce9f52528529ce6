/**
 * Diffusion schedulers (diffusers-compatible configs and numerics) as functions over an explicit plan and state:
 * DDIM, DDIM inversion, PNDM (PLMS and PRK), Euler (and Karras sigmas), Euler-ancestral, Heun, LMS, multistep
 * DPM-Solver(++) (ODE and SDE, Karras sigmas), UniPC and LCM. Start with {@link createScheduler}, or pick a sampler
 * by name with {@link schedulerConfigForName}.
 * @module
 */
export * from './errors.js';
export { SchedulerConfigError, ConfigError } from '../errors.js';
export {
  SCHEDULER_CLASS_NAMES, resolveSchedulerConfig, type SchedulerClassName, type SchedulerConfig, type ResolvedSchedulerConfig,
  type ResolveSchedulerOptions, type BetaSchedule, type PredictionType, type TimestepSpacing,
} from './config.js';
export { parseSchedulerConfigJson } from './config-json.js';
export * from './types.js';
export { createScheduler } from './registry.js';
export {
  noiseSchedule, trainingBetas, betasForAlphaBar, rescaleZeroTerminalSnr, cumprod, trainSigmas, type NoiseSchedule,
} from './betas.js';
export {
  ddimTimesteps, ddimInverseTimesteps, plmsTimesteps, prkTimesteps, PNDM_ORDER, sigmaTimesteps, dpmTimesteps, sigmasAtTimesteps,
  sigmaInitNoise, checkStepCount,
} from './timesteps.js';
export { karrasSigmas, karrasSchedule, sigmaToT, logSigmaTable, sigmaPlan, sigmaSchedule, sigmaAddNoise } from './sigmas.js';
export {
  defineScheduler, type SchedulerDefinition, type StepContext, type UpdateResult, type PlanParts, type StateFields,
} from './scaffold.js';
export { predictX0AndEps, dynamicThreshold, clipPredOriginal } from './prediction.js';
export { addNoiseVp } from './noising.js';
export { createDdimScheduler, ddimStep, type DdimState, type DdimStepOptions } from './ddim.js';
export { createDdimInverseScheduler, type DdimInverseState } from './ddim-inverse.js';
export { createPndmScheduler, pndmTransfer, type PndmState } from './pndm.js';
export { createEulerScheduler, scaleBySigma, sigmaPredX0, type EulerState } from './euler.js';
export { createLmsScheduler, lmsCoefficient, type LmsState } from './lms.js';
export {
  createDpmSolverScheduler, dpmConvertModelOutput, dpmSolverUpdate, vpLevel, vpPlan, vpAddNoise, type DpmSolverState,
} from './dpm-solver.js';
export { createEulerAncestralScheduler, ancestralSigmas, type EulerAncestralState } from './euler-ancestral.js';
export { createHeunScheduler, heunInterleave, type HeunState } from './heun.js';
export { createUniPcScheduler, type UniPcState } from './unipc.js';
export { createLcmScheduler, lcmTimesteps, lcmScalings, type LcmState } from './lcm.js';
export {
  SCHEDULER_ALIASES, schedulerNames, resolveSchedulerName, schedulerConfigForName, switchScheduler, type SchedulerAlias,
} from './aliases.js';
