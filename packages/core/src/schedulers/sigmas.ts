/**
 * Karras et al. (2022, "Elucidating the Design Space of Diffusion-Based Generative Models", arXiv:2206.00364, eq. 5)
 * noise levels and their mapping back to (fractional) training timesteps, as diffusers 0.25's `_convert_to_karras`
 * and `_sigma_to_t`: σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ with ρ = 7 (float64), and
 * t(σ) = linear interpolation of ln σ against the float32 table ln σ_t (float32 logs, as numpy computes them).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { noiseSchedule, trainSigmas, type NoiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { requirePlan, rowTimesteps, sigmaIndexOf } from './noising.js';
import { linspace } from './numpy-compat.js';
import { rowScale } from './prediction.js';
import { sigmaInitNoise, sigmasAtTimesteps, sigmaTimesteps } from './timesteps.js';
import type { SchedulerPlan } from './types.js';

const RHO = 7;

/**
 * The N Karras sigmas from σ_max down to σ_min (float64, eq. 5 of Karras et al. with ρ = 7).
 *
 * @param sigmaMin σ_min (> 0)
 * @param sigmaMax σ_max (> σ_min)
 * @param n        number of inference steps N
 * @example
 * ```ts
 * karrasSigmas(0.0292, 14.6146, 10); // [14.6146, 9.7, ..., 0.0292]
 * ```
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const minInvRho = sigmaMin ** (1 / RHO);
  const maxInvRho = sigmaMax ** (1 / RHO);
  return Array.from(linspace(0, 1, n), (r) => (maxInvRho + r * (minInvRho - maxInvRho)) ** RHO);
}

/**
 * ln σ_t of a float32 sigma table, rounded to float32 (numpy's `np.log` of a float32 array).
 *
 * @param trainSigmas σ_t for t = 0..T−1 (float32)
 * @example
 * ```ts
 * const logs = logSigmaTable(trainSigmas(schedule.alphasCumprod));
 * ```
 */
export function logSigmaTable(trainSigmas: Float32Array): Float32Array {
  return trainSigmas.map((s) => Math.log(s));
}

/**
 * The fractional training timestep of σ (diffusers' `_sigma_to_t`): the last table index whose ln σ_t is ≤ ln σ
 * (at most T − 2), then linear interpolation in ln σ, clamped to the table. Float64.
 *
 * @param sigma     the noise level
 * @param logSigmas {@link logSigmaTable} of the training sigmas (ascending)
 * @example
 * ```ts
 * sigmaToT(trainSigmas[500]!, logSigmaTable(trainSigmas)); // 500
 * ```
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  // argmax of cumsum(dists >= 0): the last index with logSigmas[i] <= logSigma (0 when there is none).
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/**
 * Karras sigmas between two levels and their timesteps: the shared part of `set_timesteps` with
 * `use_karras_sigmas=True`.
 *
 * @param sigmaMin    σ_min
 * @param sigmaMax    σ_max
 * @param n           number of inference steps
 * @param trainSigmas σ_t for t = 0..T−1 (float32)
 * @example
 * ```ts
 * const { sigmas, timesteps } = karrasSchedule(table[0]!, table[999]!, 10, table); // fractional timesteps
 * ```
 */
export function karrasSchedule(sigmaMin: number, sigmaMax: number, n: number, trainSigmas: Float32Array): { sigmas: number[]; timesteps: number[] } {
  const sigmas = karrasSigmas(sigmaMin, sigmaMax, n);
  const logs = logSigmaTable(trainSigmas);
  return { sigmas, timesteps: sigmas.map((s) => sigmaToT(s, logs)) };
}

/**
 * The training schedule of the σ-scale samplers (Euler, Euler-ancestral, Heun, LMS) and its σ table. With
 * zero-terminal-SNR betas ᾱ_{T−1} = 0 would make σ infinite; diffusers sets it to 2⁻²⁴ there.
 *
 * @param config the resolved config
 * @example
 * ```ts
 * const { schedule, sigmaTable } = sigmaSchedule(config); // sigmaTable[999] = 14.6146 for SD
 * ```
 */
export function sigmaSchedule(config: ResolvedSchedulerConfig): { schedule: NoiseSchedule; sigmaTable: Float32Array } {
  const base = noiseSchedule(config);
  const alphasCumprod = config.rescaleBetasZeroSnr ? base.alphasCumprod.map((a, i, all) => (i === all.length - 1 ? 2 ** -24 : a)) : base.alphasCumprod;
  return { schedule: Object.freeze({ ...base, alphasCumprod }), sigmaTable: trainSigmas(alphasCumprod) };
}

/**
 * The timesteps, σ (with a trailing 0) and initial-noise scale of the σ-scale samplers' `set_timesteps(n)`:
 * σ interpolated at the spaced timesteps, or Karras sigmas between the ends of those (or the config's
 * `sigma_min`/`sigma_max`) with their fractional timesteps.
 *
 * @param config        the resolved config (`timestep_spacing`, `use_karras_sigmas`, `sigma_min`, `sigma_max`)
 * @param sigmaTable    σ_t for t = 0..T−1
 * @param n             number of inference steps
 * @param timestepFloat how the class stores Karras timesteps: `float32` (Euler) or `float64` (Heun, LMS)
 * @example
 * ```ts
 * const { timesteps, sigmas, initNoiseSigma } = sigmaPlan(config, sigmaTable, 10, 'float32');
 * ```
 */
export function sigmaPlan(
  config: ResolvedSchedulerConfig, sigmaTable: Float32Array, n: number, timestepFloat: 'float32' | 'float64',
): { timesteps: number[]; sigmas: Float32Array; initNoiseSigma: number } {
  let timesteps = sigmaTimesteps(config.timestepSpacing, config.numTrainTimesteps, n, config.stepsOffset);
  let stepSigmas: ArrayLike<number> = sigmasAtTimesteps(timesteps, sigmaTable);
  if (config.useKarrasSigmas) {
    const k = karrasSchedule(config.sigmaMin ?? stepSigmas[n - 1]!, config.sigmaMax ?? stepSigmas[0]!, n, sigmaTable);
    stepSigmas = k.sigmas;
    timesteps = timestepFloat === 'float32' ? k.timesteps.map(Math.fround) : k.timesteps;
  }
  const sigmas = Float32Array.of(...Array.from(stepSigmas), 0);
  return { timesteps, sigmas, initNoiseSigma: sigmaInitNoise(config.timestepSpacing, sigmas) };
}

/**
 * `add_noise` of the σ-scale samplers: x + σ z, with σ of each row's timestep looked up in the plan.
 *
 * @param className the scheduler class (for errors)
 * @param original  clean samples `[B, H, W, C]`
 * @param noise     z `[B, H, W, C]`
 * @param timesteps one timestep, or one per row
 * @param plan      the plan whose σ are used
 * @param index     the plan index of a timestep (default: its only occurrence)
 * @example
 * ```ts
 * const noisy = sigmaAddNoise('EulerDiscreteScheduler', x0, z, plan.timesteps[3]!, plan);
 * ```
 */
export function sigmaAddNoise(
  className: string, original: tf.Tensor4D, noise: tf.Tensor4D, timesteps: number | readonly number[], plan: SchedulerPlan | undefined,
  index: (p: SchedulerPlan, t: number) => number = (p, t) => sigmaIndexOf(p, t, 'error'),
): tf.Tensor4D {
  const p = requirePlan(plan, className);
  const sig = rowTimesteps(original, noise, timesteps).map((t) => p.sigmas[index(p, t)]!);
  return tf.tidy(() => tf.add(original, tf.mul(noise, rowScale(sig))));
}
