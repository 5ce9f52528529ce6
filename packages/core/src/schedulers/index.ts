/**
 * Diffusion schedulers (diffusers-compatible configs and numerics) as functions over an explicit plan and state:
 * DDIM, DDIM inversion, PNDM (PLMS), Euler, LMS and multistep DPM-Solver(++). Start with {@link createScheduler}.
 * @module
 */
export * from './errors.js';
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
  ddimTimesteps, ddimInverseTimesteps, plmsTimesteps, sigmaTimesteps, dpmTimesteps, sigmasAtTimesteps, sigmaInitNoise,
  checkStepCount,
} from './timesteps.js';
export { predictX0AndEps, dynamicThreshold, clipPredOriginal } from './prediction.js';
export { addNoiseVp } from './noising.js';
export { createDdimScheduler, ddimStep, type DdimState, type DdimStepOptions } from './ddim.js';
export { createDdimInverseScheduler, type DdimInverseState } from './ddim-inverse.js';
export { createPndmScheduler, pndmTransfer, type PndmState } from './pndm.js';
export { createEulerScheduler, scaleBySigma, sigmaPredX0, type EulerState } from './euler.js';
export { createLmsScheduler, lmsCoefficient, type LmsState } from './lms.js';
export { createDpmSolverScheduler, dpmConvertModelOutput, dpmSolverUpdate, type DpmSolverState } from './dpm-solver.js';
