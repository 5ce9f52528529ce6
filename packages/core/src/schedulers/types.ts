/**
 * The scheduler interface: pure functions over an explicit plan and an explicit, immutable step state.
 *
 * Ownership rules (tfjs tensors):
 * - `scaleModelInput`, `step` and `addNoise` return new tensors that the caller owns (and disposes).
 * - Inputs (`sample`, `modelOutput`, `noise`) are never disposed or kept by reference; a state that needs a model
 *   output later holds its own handle (`tf.clone`, which shares the data).
 * - Each state owns the tensors it holds (kept with `tf.keep`, so an enclosing `tf.tidy` does not free them).
 *   `step` **consumes** the state passed in: it disposes that state's tensors and returns a new state with its own
 *   handles. Passing a consumed state again is a {@link SchedulerStateError}. With `{ keepState: true }` the input
 *   state stays live, and the caller disposes both states eventually.
 * - The last state of a loop (or one abandoned early) is released with `scheduler.disposeState(state)`; disposing a
 *   consumed state does nothing.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { RandomGenerator } from '../random.js';
import type { NoiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig, SchedulerClassName } from './config.js';

/**
 * What `setTimesteps(n)` returns: the timesteps of the loop (one `step` call per entry) and, for the sigma-based
 * schedulers, their sigmas. Plain numbers, no tensors: nothing to dispose.
 *
 * @example
 * ```ts
 * const plan = scheduler.setTimesteps(10);
 * plan.timesteps;      // [901, 801, ..., 1] for SD's DDIM config
 * plan.initNoiseSigma; // 1 (DDIM), sigma_max (Euler/LMS with linspace spacing)
 * plan.callStep;       // [0, 1, ..., 9]; PNDM (PLMS): [0, 0, 1, ..., 9] (11 calls, numSteps 10)
 * ```
 */
export interface SchedulerPlan {
  /** The class that made the plan (a plan only fits that class). */
  readonly className: SchedulerClassName;
  /** N as requested. The loop has `timesteps.length` steps (N + 1 for PNDM). */
  readonly numInferenceSteps: number;
  /** The model timestep of each step, in loop order. */
  readonly timesteps: readonly number[];
  /** Euler/LMS: σ per step plus a trailing 0; DPM-Solver: σ per step plus σ of timestep 0 (float32). */
  readonly sigmas: Float32Array | undefined;
  /** Scale of the initial noise: `latents = noise * initNoiseSigma`. */
  readonly initNoiseSigma: number;
  /**
   * For each model call (entry of `timesteps`), the index of the sampler step it belongs to, in `[0, numSteps)`,
   * non-decreasing. Identity for one-call-per-step schedulers. PNDM with `skip_prk_steps` (PLMS): calls 0 and 1 both
   * belong to step 0 (diffusers' `step_plms` counter 1 redoes the t₀ → t₀ − δ transfer with (ε₀ + ε₁)/2), then call
   * i belongs to step i − 1. Guidance that keeps per-step state (SEGA momentum) advances it once per step, when
   * `callStep[i] !== callStep[i - 1]`. For a loop started part-way (`initState`'s `startIndex`), the mapping is that
   * of the full loop.
   */
  readonly callStep: readonly number[];
  /** Number of distinct sampler steps (`callStep[timesteps.length - 1] + 1`; N unless the spacing merges timesteps). */
  readonly numSteps: number;
}

/**
 * The explicit state threaded through a loop. Each scheduler extends it with its history (PNDM `ets`, LMS
 * derivatives, DPM-Solver model outputs); see the module notes for who owns its tensors.
 *
 * @example
 * ```ts
 * let state = scheduler.initState(plan); // state.nextStepIndex === 0
 * ```
 */
export interface SchedulerState {
  /** The class the state belongs to. */
  readonly className: SchedulerClassName;
  /** The plan of the loop. */
  readonly plan: SchedulerPlan;
  /** Index of the step this state is ready for (multistep schedulers require exactly this index). */
  readonly nextStepIndex: number;
}

/**
 * Per-call options of `step`. Each scheduler accepts only the options it uses and rejects the others with an
 * {@link OptionError}, so that nothing is silently ignored.
 *
 * @example
 * ```ts
 * scheduler.step(eps, i, x, state, { eta: 0.5, noise: varianceNoise }); // DDIM with supplied noise
 * ```
 */
export interface StepOptions {
  /**
   * Fresh Gaussian noise, same shape as the sample: DDIM `variance_noise` when eta > 0; Euler churn noise; the noise
   * of a stochastic scheduler's step (Euler-ancestral, SDE-DPM-Solver++, LCM), which LCM ignores at its last step.
   */
  noise?: tf.Tensor4D;
  /**
   * Stochastic schedulers (`scheduler.stochastic`): when `noise` is not given, the step draws it from this seeded
   * generator (one `[B, H, W, C]` normal draw per step that uses noise). Give `noise` or `generator`, not both.
   */
  generator?: RandomGenerator;
  /** DDIM: η of DDIM eq. 16 (0 = deterministic DDIM, 1 = DDPM-like). Default 0. */
  eta?: number;
  /** DDIM: re-derive ε from the clipped x̂₀ (GLIDE). Default false. */
  useClippedModelOutput?: boolean;
  /** Euler: churn (Karras et al. 2022, Algorithm 2). Default 0 (deterministic). */
  sChurn?: number;
  /** Euler: churn only where sTmin <= σ <= sTmax. Defaults 0 and Infinity. */
  sTmin?: number;
  sTmax?: number;
  /** Euler: noise scale of the churn. Default 1. */
  sNoise?: number;
  /** LMS: order of the linear multistep method. Default 4. */
  order?: number;
  /** Leave the input state live instead of consuming it (the caller then disposes it). Default false. */
  keepState?: boolean;
}

/**
 * What `step` returns. All tensors are new and owned by the caller, except the state's, which the next `step` (or
 * `disposeState`) releases.
 *
 * @example
 * ```ts
 * const { prevSample, predOriginalSample, state: next } = scheduler.step(eps, i, x, state);
 * ```
 */
export interface StepResult<S extends SchedulerState = SchedulerState> {
  /** x_{t-1} `[B, H, W, C]`: the sample for the next step. */
  readonly prevSample: tf.Tensor4D;
  /**
   * x̂₀ `[B, H, W, C]`: the predicted clean sample, where the algorithm has it (undefined for PNDM, Heun, UniPC);
   * for LCM the consistency output `denoised` (what its pipeline decodes).
   */
  readonly predOriginalSample: tf.Tensor4D | undefined;
  /** The state for the next step. */
  readonly state: S;
}

/**
 * A diffusion scheduler: functions over an explicit plan and state, no hidden counters.
 *
 * @example
 * ```ts
 * const s = createScheduler(config);
 * const plan = s.setTimesteps(25);
 * let x = tf.mul(noise, plan.initNoiseSigma) as tf.Tensor4D; // [B, H, W, C]
 * let state = s.initState(plan);
 * for (let i = 0; i < plan.timesteps.length; i++) {
 *   const input = s.scaleModelInput(x, i, plan);
 *   const eps = unet(input, plan.timesteps[i]!);
 *   const out = s.step(eps, i, x, state); // consumes `state`
 *   tf.dispose([input, eps, x, out.predOriginalSample]);
 *   x = out.prevSample;
 *   state = out.state;
 * }
 * s.disposeState(state);
 * ```
 */
export interface Scheduler<S extends SchedulerState = SchedulerState> {
  readonly className: SchedulerClassName;
  readonly config: ResolvedSchedulerConfig;
  /** True when `step` adds fresh noise (pass `noise` or `generator` in its options). */
  readonly stochastic: boolean;
  /** Training betas, alphas and ᾱ (float32). */
  readonly schedule: NoiseSchedule;
  /** The timesteps (and sigmas) of an N-step loop. */
  setTimesteps(numInferenceSteps: number): SchedulerPlan;
  /** A fresh state for `plan`; `startIndex` starts the loop part-way (img2img). */
  initState(plan: SchedulerPlan, opts?: { startIndex?: number }): S;
  /** The model input for step `stepIndex` (x / √(σ² + 1) for Euler/LMS, a copy of x otherwise). */
  scaleModelInput(sample: tf.Tensor4D, stepIndex: number, plan: SchedulerPlan): tf.Tensor4D;
  /** One solver step from the model output at `plan.timesteps[stepIndex]`; consumes `state` (see the module notes). */
  step(modelOutput: tf.Tensor4D, stepIndex: number, sample: tf.Tensor4D, state: S, opts?: StepOptions): StepResult<S>;
  /**
   * Noises clean samples to the given timesteps as diffusers' `add_noise` (one timestep for all rows or one per
   * row). Sigma-based schedulers look the timesteps up in `plan`.
   */
  addNoise(original: tf.Tensor4D, noise: tf.Tensor4D, timesteps: number | readonly number[], plan?: SchedulerPlan): tf.Tensor4D;
  /** Releases a live state's tensors (no-op on a consumed state). */
  disposeState(state: S): void;
}
