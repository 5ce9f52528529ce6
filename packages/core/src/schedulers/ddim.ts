/**
 * DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", arXiv:2010.02502), as diffusers'
 * `DDIMScheduler`.
 *
 * Symbols (diffusers name → paper):
 * - `alphaProdT` → α_t (the paper's α is ᾱ, the cumulative product), `alphaProdTPrev` → α_{t−1};
 * - `modelOutput` → ε_θ(x_t, t) (or v / x₀ per `prediction_type`), `predOriginalSample` → f_θ(x_t) = x̂₀;
 * - `stdDevT` → σ_t(η) of eq. 16, `eta` → η, `predSampleDirection` → "direction pointing to x_t";
 * - `prevSample` → x_{t−1} of eq. 12.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import { noiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { addNoiseVp } from './noising.js';
import { clipPredOriginal, predictX0AndEps } from './prediction.js';
import { defineScheduler } from './scaffold.js';
import { ddimTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerState } from './types.js';

/**
 * DDIM's state: no history (any step can be taken in any order), just the plan.
 *
 * @example
 * ```ts
 * const state: DdimState = ddim.initState(plan);
 * ```
 */
export interface DdimState extends SchedulerState {
  readonly className: 'DDIMScheduler';
}

/**
 * Options of {@link ddimStep}.
 *
 * @example
 * ```ts
 * const o: DdimStepOptions = { eta: 0.5, noise: z, useClippedModelOutput: false };
 * ```
 */
export interface DdimStepOptions {
  /** η ≥ 0 (eq. 16). */
  eta: number;
  /** Variance noise z ~ N(0, I) `[B, H, W, C]`, required when η > 0. */
  noise?: tf.Tensor4D | undefined;
  /** Re-derive ε̂ from the clipped x̂₀. */
  useClippedModelOutput: boolean;
}

/**
 * One DDIM update from noise level ᾱ_t to ᾱ_{t−1} (eq. 12), the math without bookkeeping. Call inside `tf.tidy`.
 *
 * @param modelOutput    model output at x_t `[B, H, W, C]`
 * @param sample         x_t `[B, H, W, C]`
 * @param alphaProdT     ᾱ_t
 * @param alphaProdTPrev ᾱ_{t−1} (the final alpha at the last step)
 * @param cfg            prediction type and x̂₀ clipping fields of the config
 * @param opts           η, noise, clipped-output option
 * @example
 * ```ts
 * const { prevSample } = tf.tidy(() => ddimStep(eps, x, 0.3, 0.6, scheduler.config, { eta: 0, useClippedModelOutput: false }));
 * ```
 */
export function ddimStep(
  modelOutput: tf.Tensor4D, sample: tf.Tensor4D, alphaProdT: number, alphaProdTPrev: number,
  cfg: ResolvedSchedulerConfig, opts: DdimStepOptions,
): { prevSample: tf.Tensor4D; predOriginalSample: tf.Tensor4D } {
  const betaProdT = 1 - alphaProdT;
  // 3. x̂₀ ("predicted x_0" of eq. 12) and ε̂ from the model output.
  let { x0: predOriginalSample, eps: predEpsilon } = predictX0AndEps(modelOutput, sample, alphaProdT, cfg.predictionType);
  // 4. Clip or threshold x̂₀.
  predOriginalSample = clipPredOriginal(predOriginalSample, cfg);
  // 5. σ_t(η) = η √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) √(1 − ᾱ_t / ᾱ_{t−1})  (eq. 16).
  const variance = ((1 - alphaProdTPrev) / betaProdT) * (1 - alphaProdT / alphaProdTPrev);
  const stdDevT = opts.eta * Math.sqrt(variance);
  if (opts.useClippedModelOutput) {
    predEpsilon = tf.div(tf.sub(sample, tf.mul(predOriginalSample, Math.sqrt(alphaProdT))), Math.sqrt(betaProdT));
  }
  // 6. "direction pointing to x_t": √(1 − ᾱ_{t−1} − σ_t²) ε̂.
  const predSampleDirection = tf.mul(predEpsilon, Math.sqrt(1 - alphaProdTPrev - stdDevT ** 2));
  // 7. x_{t−1} = √ᾱ_{t−1} x̂₀ + direction (+ σ_t z when η > 0).
  let prevSample: tf.Tensor4D = tf.add(tf.mul(predOriginalSample, Math.sqrt(alphaProdTPrev)), predSampleDirection);
  if (opts.eta > 0) {
    if (!opts.noise) throw new OptionError('noise', 'DDIM with eta > 0 needs the variance noise (pass opts.noise)');
    prevSample = tf.add(prevSample, tf.mul(opts.noise, stdDevT));
  }
  return { prevSample, predOriginalSample: predOriginalSample === modelOutput ? tf.clone(predOriginalSample) : predOriginalSample };
}

/**
 * Creates a DDIM scheduler (`DDIMScheduler`). The previous timestep of step i is t_i − ⌊T/N⌋ whatever the spacing,
 * and its ᾱ is `alphas_cumprod[0]` or 1 (`set_alpha_to_one`) once that falls below 0, as in diffusers.
 *
 * @param config a resolved config of class `DDIMScheduler`
 * @example
 * ```ts
 * const ddim = createDdimScheduler(resolveSchedulerConfig(json));
 * const plan = ddim.setTimesteps(50); // plan.timesteps [981, 961, ..., 1] for SD
 * ```
 */
export function createDdimScheduler(config: ResolvedSchedulerConfig): Scheduler<DdimState> {
  const schedule = noiseSchedule(config);
  const ac = schedule.alphasCumprod;
  const finalAlphaCumprod = config.setAlphaToOne ? 1 : ac[0]!;
  const T = config.numTrainTimesteps;
  return defineScheduler<DdimState>({
    className: 'DDIMScheduler', config, schedule, sequential: false, options: ['eta', 'noise', 'useClippedModelOutput'],
    plan: (n) => ({ timesteps: ddimTimesteps(config.timestepSpacing, T, n, config.stepsOffset) }),
    initial: () => ({}),
    update({ modelOutput, stepIndex, sample, plan, opts }) {
      const eta = opts.eta ?? 0;
      if (!(eta >= 0)) throw new OptionError('eta', `must be >= 0, got ${eta}`);
      if (opts.noise && eta === 0) throw new OptionError('noise', 'is only used by DDIM when eta > 0');
      // 1. Previous step value t − ⌊T/N⌋ and 2. its ᾱ.
      const timestep = plan.timesteps[stepIndex]!;
      const prevTimestep = timestep - Math.floor(T / plan.numInferenceSteps);
      const alphaProdT = ac[timestep]!;
      const alphaProdTPrev = prevTimestep >= 0 ? ac[prevTimestep]! : finalAlphaCumprod;
      const out = ddimStep(modelOutput, sample, alphaProdT, alphaProdTPrev, config, {
        eta, noise: opts.noise, useClippedModelOutput: opts.useClippedModelOutput ?? false,
      });
      return { ...out, state: {} };
    },
    addNoise: (original, noise, timesteps) => addNoiseVp(ac, original, noise, timesteps),
  });
}
