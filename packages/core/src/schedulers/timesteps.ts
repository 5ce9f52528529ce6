/**
 * Inference timesteps of each scheduler family for `timestep_spacing` (Lin et al. 2023, "Common Diffusion Noise
 * Schedules and Sample Steps are Flawed", arXiv:2305.08891, Table 2), exactly as diffusers 0.25 builds them:
 *
 * - `linspace`: N points evenly from 0 to T − 1 (rounded for integer schedulers);
 * - `leading`:  multiples of ⌊T / N⌋ from 0, plus `steps_offset`;
 * - `trailing`: T − 1 down in steps of T / N (rounded).
 *
 * T = `num_train_timesteps`, N = number of inference steps. Integer lists are plain numbers; the Euler/LMS lists
 * hold float32 values (diffusers builds them as float32).
 * @module
 */
import { OptionError } from '../errors.js';
import type { TimestepSpacing } from './config.js';
import { arange, interp, linspace, roundHalfEven } from './numpy-compat.js';

/**
 * Checks that N is an integer in [1, T].
 *
 * @param n                 number of inference steps
 * @param numTrainTimesteps T
 * @example
 * ```ts
 * checkStepCount(50, 1000); // ok; checkStepCount(0, 1000) throws OptionError
 * ```
 */
export function checkStepCount(n: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(n) || n < 1 || n > numTrainTimesteps) {
    throw new OptionError('numInferenceSteps', `must be an integer in [1, num_train_timesteps = ${numTrainTimesteps}], got ${n}`);
  }
}

/**
 * Returns `timesteps` after checking that each lies in [0, T): `leading` spacing plus `steps_offset` can reach T for
 * N close to T (diffusers then fails with an index error, or silently clamps the sigma).
 */
function inRange(timesteps: number[], T: number, n: number, spacing: TimestepSpacing): number[] {
  const bad = timesteps.find((t) => !(t >= 0 && t < T));
  if (bad !== undefined) {
    throw new OptionError('numInferenceSteps', `${n} steps with ${spacing} spacing give timestep ${bad}, outside [0, ${T}); use fewer steps`);
  }
  return timesteps;
}

/** The ascending base grid shared by DDIM, DDIM inversion and PNDM (before reversal / PLMS duplication). */
function ascendingGrid(spacing: TimestepSpacing, T: number, n: number, offset: number): number[] {
  switch (spacing) {
    case 'linspace':
      return Array.from(linspace(0, T - 1, n), roundHalfEven);
    case 'leading': {
      const ratio = Math.floor(T / n);
      return Array.from({ length: n }, (_, i) => i * ratio + offset);
    }
    case 'trailing':
      return Array.from(arange(T, 0, -T / n), (t) => roundHalfEven(t) - 1).reverse();
  }
}

/**
 * DDIM timesteps (integers, descending), as `DDIMScheduler.set_timesteps`.
 *
 * @param spacing `timestep_spacing`
 * @param T       `num_train_timesteps`
 * @param n       number of inference steps
 * @param offset  `steps_offset` (used by `leading` only)
 * @example
 * ```ts
 * ddimTimesteps('leading', 1000, 4, 1); // [751, 501, 251, 1]
 * ```
 */
export function ddimTimesteps(spacing: TimestepSpacing, T: number, n: number, offset: number): number[] {
  return inRange(ascendingGrid(spacing, T, n, offset).reverse(), T, n, spacing);
}

/**
 * DDIM-inversion timesteps (integers, ascending), as `DDIMInverseScheduler.set_timesteps` (leading or trailing).
 *
 * @param spacing `leading` or `trailing`
 * @param T       `num_train_timesteps`
 * @param n       number of inference steps
 * @param offset  `steps_offset`
 * @example
 * ```ts
 * ddimInverseTimesteps('leading', 1000, 4, 1); // [1, 251, 501, 751]
 * ```
 */
export function ddimInverseTimesteps(spacing: TimestepSpacing, T: number, n: number, offset: number): number[] {
  if (spacing === 'linspace') throw new OptionError('timestep_spacing', 'DDIMInverseScheduler supports leading or trailing');
  return inRange(ascendingGrid(spacing, T, n, offset), T, n, spacing);
}

/**
 * PNDM timesteps with `skip_prk_steps` (PLMS only): the descending grid with its second-to-last entry repeated,
 * N + 1 entries; the repeat is where the first PLMS step is redone with the averaged noise (Liu et al. 2022).
 *
 * @param spacing `timestep_spacing`
 * @param T       `num_train_timesteps`
 * @param n       number of inference steps
 * @param offset  `steps_offset`
 * @example
 * ```ts
 * plmsTimesteps('leading', 1000, 4, 1); // [751, 501, 501, 251, 1]
 * ```
 */
export function plmsTimesteps(spacing: TimestepSpacing, T: number, n: number, offset: number): number[] {
  const g = ascendingGrid(spacing, T, n, offset);
  // np.concatenate([g[:-1], g[-2:-1], g[-1:]])[::-1]
  return inRange([...g.slice(0, -1), ...g.slice(-2, -1), ...g.slice(-1)].reverse(), T, n, spacing);
}

/**
 * PNDM's `pndm_order`: the PRK warm-up covers `PNDM_ORDER - 1` steps of 4 calls.
 *
 * @example
 * ```ts
 * PNDM_ORDER - 1; // 3 PRK steps
 * ```
 */
export const PNDM_ORDER = 4;

/**
 * PNDM timesteps with the pseudo Runge–Kutta warm-up (`skip_prk_steps=False`): 12 PRK calls over the 4 noisiest grid
 * timesteps (3 RK steps of 4 evaluations, half steps ⌊⌊T/N⌋/2⌋ in between), then the remaining N − 3 PLMS steps.
 *
 * @param spacing `timestep_spacing`
 * @param T       `num_train_timesteps`
 * @param n       number of inference steps (at least 4)
 * @param offset  `steps_offset` (used by `leading` only)
 * @throws OptionError for n < 4
 * @example
 * ```ts
 * prkTimesteps('leading', 1000, 4, 1).length; // 13: 12 PRK calls, then [1]
 * ```
 */
export function prkTimesteps(spacing: TimestepSpacing, T: number, n: number, offset: number): number[] {
  if (n < PNDM_ORDER) throw new OptionError('numInferenceSteps', `PNDM with skip_prk_steps=false needs at least ${PNDM_ORDER} steps, got ${n}`);
  const g = ascendingGrid(spacing, T, n, offset);
  const half = Math.floor(Math.floor(T / n) / 2);
  // (g[-4:].repeat(2) + tile([0, half], 4))[:-1].repeat(2)[1:-1][::-1], then g[:-3][::-1]
  const pairs = g.slice(-PNDM_ORDER).flatMap((t) => [t, t + half]).slice(0, -1);
  const prk = pairs.flatMap((t) => [t, t]).slice(1, -1).reverse();
  return inRange([...prk, ...g.slice(0, -(PNDM_ORDER - 1)).reverse()], T, n, spacing);
}

/**
 * Euler / LMS timesteps (float32 values, descending; fractional for `linspace`).
 *
 * @param spacing `timestep_spacing`
 * @param T       `num_train_timesteps`
 * @param n       number of inference steps
 * @param offset  `steps_offset` (used by `leading` only)
 * @example
 * ```ts
 * sigmaTimesteps('linspace', 1000, 3, 0); // [999, 499.5, 0]
 * ```
 */
export function sigmaTimesteps(spacing: TimestepSpacing, T: number, n: number, offset: number): number[] {
  return inRange(sigmaGrid(spacing, T, n, offset), T, n, spacing);
}

function sigmaGrid(spacing: TimestepSpacing, T: number, n: number, offset: number): number[] {
  switch (spacing) {
    case 'linspace':
      return Array.from(linspace(0, T - 1, n), Math.fround).reverse();
    case 'leading': {
      const ratio = Math.floor(T / n);
      return Array.from({ length: n }, (_, i) => i * ratio + offset).reverse();
    }
    case 'trailing':
      return Array.from(arange(T, 0, -T / n), (t) => Math.fround(roundHalfEven(t)) - 1);
  }
}

/**
 * DPM-Solver timesteps (integers, descending). `lastTimestep` is T unless `lambda_min_clipped` cuts the noisiest
 * timesteps off; `linspace` and `leading` space N + 1 points and drop the last (t = 0).
 *
 * @param spacing      `timestep_spacing`
 * @param T            `num_train_timesteps`
 * @param lastTimestep T minus the number of clipped timesteps
 * @param n            number of inference steps
 * @param offset       `steps_offset` (used by `leading` only)
 * @example
 * ```ts
 * dpmTimesteps('linspace', 1000, 1000, 10, 0); // [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
 * ```
 */
export function dpmTimesteps(spacing: TimestepSpacing, T: number, lastTimestep: number, n: number, offset: number): number[] {
  return inRange(dpmGrid(spacing, T, lastTimestep, n, offset), T, n, spacing);
}

function dpmGrid(spacing: TimestepSpacing, T: number, lastTimestep: number, n: number, offset: number): number[] {
  switch (spacing) {
    case 'linspace':
      return Array.from(linspace(0, lastTimestep - 1, n + 1), roundHalfEven).reverse().slice(0, -1);
    case 'leading': {
      const ratio = Math.floor(lastTimestep / (n + 1));
      return Array.from({ length: n + 1 }, (_, i) => i * ratio).reverse().slice(0, -1).map((t) => t + offset);
    }
    case 'trailing':
      return Array.from(arange(lastTimestep, 0, -T / n), (t) => roundHalfEven(t) - 1);
  }
}

/**
 * σ at (possibly fractional) timesteps by linear interpolation of the training sigmas over 0..T−1 (`np.interp`),
 * then cast to float32, as Euler/LMS/DPM-Solver's `set_timesteps` (without the trailing entry).
 *
 * @param timesteps    the plan's timesteps
 * @param trainSigmas  σ_t for t = 0..T−1 (see `trainSigmas`)
 * @example
 * ```ts
 * sigmasAtTimesteps([999, 0], trainSigmas(ac)); // Float32Array [14.6146, 0.0292] for SD
 * ```
 */
export function sigmasAtTimesteps(timesteps: readonly number[], trainSigmas: Float32Array): Float32Array {
  const grid = Float64Array.from(trainSigmas, (_, i) => i);
  return Float32Array.from(timesteps, (t) => interp(t, grid, trainSigmas));
}

/**
 * `init_noise_sigma` of Euler/LMS: σ_max for `linspace`/`trailing` spacing, else √(σ_max² + 1) (float32 steps).
 *
 * @param spacing `timestep_spacing`
 * @param sigmas  the plan's sigmas
 * @example
 * ```ts
 * sigmaInitNoise('linspace', plan.sigmas); // 14.6146 for SD
 * ```
 */
export function sigmaInitNoise(spacing: TimestepSpacing, sigmas: Float32Array): number {
  const max = sigmas.reduce((m, s) => Math.max(m, s), -Infinity);
  if (spacing === 'linspace' || spacing === 'trailing') return max;
  return Math.fround(Math.sqrt(Math.fround(Math.fround(max * max) + 1)));
}
