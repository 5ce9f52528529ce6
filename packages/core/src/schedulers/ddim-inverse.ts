/**
 * DDIM inversion, as diffusers' `DDIMInverseScheduler`: the deterministic DDIM update (Song et al. 2021,
 * arXiv:2010.02502, eq. 12 with η = 0, read as an ODE step, §4.3 "encoding") run towards *more* noise, as used by
 * Null-text inversion (Mokady et al. 2022, arXiv:2211.09794) and DiffEdit.
 *
 * Timesteps ascend. Step i evaluates the model at t_i = `plan.timesteps[i]` on the sample at the level of
 * t_i − ⌊T/N⌋ (ᾱ_0 or 1 for the first step, per `set_alpha_to_one`) and returns the sample at level t_i:
 * x̂₀ = (x − √(1 − ᾱ_s) ε̂) / √ᾱ_s, x_{t_i} = √ᾱ_{t_i} x̂₀ + √(1 − ᾱ_{t_i}) ε̂, with s = t_i − ⌊T/N⌋.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { noiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { addNoiseVp } from './noising.js';
import { clipPredOriginal, predictX0AndEps } from './prediction.js';
import { defineScheduler } from './scaffold.js';
import { ddimInverseTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerState } from './types.js';

/**
 * DDIM inversion's state: no history, just the plan.
 *
 * @example
 * ```ts
 * const state: DdimInverseState = inverse.initState(plan);
 * ```
 */
export interface DdimInverseState extends SchedulerState {
  readonly className: 'DDIMInverseScheduler';
}

/**
 * Creates a DDIM inversion scheduler (`DDIMInverseScheduler`).
 *
 * @param config a resolved config of class `DDIMInverseScheduler`
 * @example
 * ```ts
 * const inv = createDdimInverseScheduler(resolveSchedulerConfig({ ...json, _class_name: 'DDIMInverseScheduler' }));
 * inv.setTimesteps(10).timesteps; // [1, 101, ..., 901] for SD
 * ```
 */
export function createDdimInverseScheduler(config: ResolvedSchedulerConfig): Scheduler<DdimInverseState> {
  const schedule = noiseSchedule(config);
  const ac = schedule.alphasCumprod;
  const initialAlphaCumprod = config.setAlphaToOne ? 1 : ac[0]!;
  const T = config.numTrainTimesteps;
  return defineScheduler<DdimInverseState>({
    className: 'DDIMInverseScheduler', config, schedule, sequential: false, options: [],
    plan: (n) => ({ timesteps: ddimInverseTimesteps(config.timestepSpacing, T, n, config.stepsOffset) }),
    initial: () => ({}),
    update({ modelOutput, stepIndex, sample, plan }) {
      // 1. The target level is the step's timestep; the current level is ⌊T/N⌋ below it (capped at T − 1).
      const prevTimestep = plan.timesteps[stepIndex]!;
      const timestep = Math.min(prevTimestep - Math.floor(T / plan.numInferenceSteps), T - 1);
      // 2. ᾱ of both levels.
      const alphaProdT = timestep >= 0 ? ac[timestep]! : initialAlphaCumprod;
      const alphaProdTPrev = ac[prevTimestep]!;
      // 3. x̂₀ and ε̂; 4. optional clipping of x̂₀.
      const { x0, eps } = predictX0AndEps(modelOutput, sample, alphaProdT, config.predictionType);
      const predOriginalSample = clipPredOriginal(x0, { ...config, thresholding: false });
      // 5. Direction to x_t and 6. the sample at the higher noise level.
      const predSampleDirection = tf.mul(eps, Math.sqrt(1 - alphaProdTPrev));
      const prevSample = tf.add(tf.mul(predOriginalSample, Math.sqrt(alphaProdTPrev)), predSampleDirection) as tf.Tensor4D;
      return { prevSample, predOriginalSample, state: {} };
    },
    addNoise: (original, noise, timesteps) => addNoiseVp(ac, original, noise, timesteps),
  });
}
