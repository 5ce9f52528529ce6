/**
 * PNDM's pseudo linear multistep method (PLMS; Liu, Ren, Lin & Zhao 2022, "Pseudo Numerical Methods for Diffusion
 * Models on Manifolds", arXiv:2202.09778, eq. 12 (transfer φ), eq. 13 (linear multistep ε′) and the pseudo
 * Runge–Kutta method of §3.3), as diffusers' `PNDMScheduler`.
 *
 * Symbols: ε_i = the model output of step i (`ets` keeps the last ones), ε′ = the combined noise fed to φ,
 * ᾱ_t → `alphaProdT`, ᾱ_{t−δ} → `alphaProdTPrev`, δ = ⌊T/N⌋.
 *
 * The step list has N + 1 entries (second-to-last timestep repeated). Step 0 moves t₀ → t₀ − δ with ε₀; step 1 is the
 * pseudo improved-Euler warm-up: it *redoes* t₀ → t₀ − δ from the step-0 input with (ε₀ + ε₁)/2. From step 2 on the
 * Adams–Bashforth combinations of the history are used: (3ε − ε₋₁)/2, (23ε − 16ε₋₁ + 5ε₋₂)/12, then
 * (55ε − 59ε₋₁ + 37ε₋₂ − 9ε₋₃)/24. As in diffusers, the warm-up ε₁ is not kept in the history.
 *
 * With `skip_prk_steps=False` the first three steps are pseudo Runge–Kutta steps instead (4 model calls each, from
 * the step's start sample to the half and the full step, outputs combined 1/6, 1/3, 1/3, 1/6; the first output of
 * each joins the history); then PLMS continues with the fourth-order formula.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import { noiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { addNoiseVp } from './noising.js';
import { defineScheduler } from './scaffold.js';
import { own } from './state.js';
import { plmsTimesteps, PNDM_ORDER, prkTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerState } from './types.js';

/**
 * PNDM's state: the recent model outputs and the step-0 sample that the warm-up step restarts from.
 *
 * @example
 * ```ts
 * const state: PndmState = pndm.initState(plan); // ets [], curSample null
 * ```
 */
export interface PndmState extends SchedulerState {
  readonly className: 'PNDMScheduler';
  /** Up to the last 3 model outputs of the history (`[B, H, W, C]` each), oldest first. */
  readonly ets: readonly tf.Tensor4D[];
  /** The sample given to step 0, kept for the warm-up step 1 (PRK: the current RK step's start); null otherwise. */
  readonly curSample: tf.Tensor4D | null;
  /** PRK: the running 1/6, 1/3, 1/3 sum of the current RK step's outputs; null otherwise. */
  readonly curModelOutput: tf.Tensor4D | null;
  /** The first step of the loop (`initState`'s `startIndex`): the warm-up is the step after it. */
  readonly startIndex: number;
}

/**
 * φ of eq. 12: moves x from level ᾱ_t to ᾱ_{t−δ} with noise ε′ (diffusers `_get_prev_sample`):
 * x_{t−δ} = √(ᾱ_{t−δ}/ᾱ_t) x_t − (ᾱ_{t−δ} − ᾱ_t) ε′ / (ᾱ_t √(1 − ᾱ_{t−δ}) + √(ᾱ_t (1 − ᾱ_t) ᾱ_{t−δ})).
 * Call inside `tf.tidy`.
 *
 * @param sample         x_t `[B, H, W, C]`
 * @param eps            ε′ `[B, H, W, C]` (already converted from v when `v_prediction`)
 * @param alphaProdT     ᾱ_t
 * @param alphaProdTPrev ᾱ_{t−δ}
 * @example
 * ```ts
 * const prev = tf.tidy(() => pndmTransfer(x, eps, 0.2, 0.4));
 * ```
 */
export function pndmTransfer(sample: tf.Tensor4D, eps: tf.Tensor4D, alphaProdT: number, alphaProdTPrev: number): tf.Tensor4D {
  const betaProdT = 1 - alphaProdT;
  const betaProdTPrev = 1 - alphaProdTPrev;
  const sampleCoeff = Math.sqrt(alphaProdTPrev / alphaProdT);
  const modelOutputDenomCoeff = alphaProdT * Math.sqrt(betaProdTPrev) + Math.sqrt(alphaProdT * betaProdT * alphaProdTPrev);
  return tf.sub(tf.mul(sample, sampleCoeff), tf.mul(eps, (alphaProdTPrev - alphaProdT) / modelOutputDenomCoeff));
}

/**
 * Creates a PNDM scheduler (`PNDMScheduler`): PLMS steps with the pseudo improved-Euler warm-up
 * (`skip_prk_steps=True`, every Stable Diffusion config), or the pseudo Runge–Kutta warm-up first
 * (`skip_prk_steps=False`, at least 4 steps; a loop then starts at step 0).
 *
 * @param config a resolved config of class `PNDMScheduler`
 * @example
 * ```ts
 * const pndm = createPndmScheduler(resolveSchedulerConfig(sd15SchedulerJson));
 * pndm.setTimesteps(10).timesteps; // [901, 801, 801, 701, ..., 1] (11 calls, 10 steps)
 * ```
 */
export function createPndmScheduler(config: ResolvedSchedulerConfig): Scheduler<PndmState> {
  const className = 'PNDMScheduler';
  const schedule = noiseSchedule(config);
  const ac = schedule.alphasCumprod;
  const finalAlphaCumprod = config.setAlphaToOne ? 1 : ac[0]!;
  const T = config.numTrainTimesteps;
  const prkCalls = config.skipPrkSteps ? 0 : 4 * (PNDM_ORDER - 1);
  const alphaAt = (t: number) => (t >= 0 ? ac[t]! : finalAlphaCumprod);
  // φ from level `from` to level `to` with ε′ (v-prediction converted to ε at the level of the input sample).
  const transfer = (sample: tf.Tensor4D, eps: tf.Tensor4D, from: number, to: number) => {
    const a = alphaAt(from);
    const e = config.predictionType === 'v_prediction' ? tf.add(tf.mul(eps, Math.sqrt(a)), tf.mul(sample, Math.sqrt(1 - a))) as tf.Tensor4D : eps;
    return pndmTransfer(sample, e, a, alphaAt(to));
  };
  return defineScheduler<PndmState>({
    className, config, schedule, sequential: true, options: [],
    plan(n) {
      const spacing = config.timestepSpacing;
      if (config.skipPrkSteps) {
        // Calls 0 and 1 are one PLMS step (the warm-up redoes step 0); call i >= 1 is step i - 1.
        const timesteps = plmsTimesteps(spacing, T, n, config.stepsOffset);
        const callStep = timesteps.map((_, i) => Math.max(0, i - 1));
        return { timesteps, callStep, numSteps: callStep[callStep.length - 1]! + 1 };
      }
      // Four PRK calls per RK step, then one call per PLMS step.
      const timesteps = prkTimesteps(spacing, T, n, config.stepsOffset);
      const callStep = timesteps.map((_, i) => (i < prkCalls ? Math.floor(i / 4) : i - prkCalls + PNDM_ORDER - 1));
      return { timesteps, callStep, numSteps: n };
    },
    initial(_plan, startIndex) {
      if (prkCalls > 0 && startIndex !== 0) {
        throw new OptionError('startIndex', `PNDM with skip_prk_steps=false starts at step 0 (its Runge-Kutta warm-up), got ${startIndex}`);
      }
      return { ets: Object.freeze([]), curSample: null, curModelOutput: null, startIndex };
    },
    held: (s) => [...s.ets, ...(s.curSample ? [s.curSample] : []), ...(s.curModelOutput ? [s.curModelOutput] : [])],
    update({ modelOutput, stepIndex, sample, state, plan }) {
      // `counter` of diffusers: the number of calls since the state was made.
      const counter = stepIndex - state.startIndex;
      const delta = Math.floor(T / plan.numInferenceSteps);
      if (counter < prkCalls) {
        // PRK: calls 4k..4k+3 all start from the group's first sample at its first timestep T0; the 1st and 2nd go
        // to T0 − δ/2, the 3rd and 4th to T0 − δ, the 4th with the outputs combined 1/6, 1/3, 1/3, 1/6.
        const phase = counter % 4;
        const to = plan.timesteps[stepIndex]! - (phase % 2 === 1 ? 0 : Math.floor(delta / 2));
        const from = plan.timesteps[stepIndex - phase]!;
        const start = phase === 0 ? sample : state.curSample!;
        const weighted = tf.mul(modelOutput, phase === 0 || phase === 3 ? 1 / 6 : 1 / 3);
        const acc = phase === 0 ? weighted : tf.add(state.curModelOutput!, weighted);
        const eps = phase === 3 ? acc as tf.Tensor4D : modelOutput;
        return {
          prevSample: transfer(start, eps, from, to),
          state: {
            ets: Object.freeze([...state.ets.map(own), ...(phase === 0 ? [own(modelOutput)] : [])]),
            curSample: phase === 3 ? null : own(start), curModelOutput: phase === 3 ? null : own(acc as tf.Tensor4D), startIndex: state.startIndex,
          },
        };
      }
      let timestep = plan.timesteps[stepIndex]!;
      let prevTimestep = timestep - delta;
      if (counter === 1) {
        // Warm-up: redo the step-0 transfer t₀ → t₀ − δ (this step's timestep is t₀ − δ).
        prevTimestep = timestep;
        timestep = timestep + delta;
      }
      // 1. ε′ from the history (eq. 13) and the sample the transfer starts from.
      const ets = counter === 1 ? [...state.ets] : [...state.ets, modelOutput];
      let eps: tf.Tensor4D;
      let from = sample;
      if (counter === 0) eps = modelOutput;
      else if (counter === 1) {
        eps = tf.div(tf.add(modelOutput, ets[ets.length - 1]!), 2);
        from = state.curSample!;
      } else if (ets.length === 2) eps = tf.div(tf.sub(tf.mul(ets[1]!, 3), ets[0]!), 2);
      else if (ets.length === 3) eps = tf.div(tf.addN([tf.mul(ets[2]!, 23), tf.mul(ets[1]!, -16), tf.mul(ets[0]!, 5)]), 12);
      else eps = tf.mul(tf.addN([tf.mul(ets[3]!, 55), tf.mul(ets[2]!, -59), tf.mul(ets[1]!, 37), tf.mul(ets[0]!, -9)]), 1 / 24);
      // 2. The transfer φ (eq. 12); 3. the next state: the last 3 outputs, and the step-0 sample for the warm-up.
      return {
        prevSample: transfer(from, eps, timestep, prevTimestep),
        state: {
          ets: Object.freeze(ets.slice(-3).map(own)), curSample: counter === 0 ? own(sample) : null, curModelOutput: null,
          startIndex: state.startIndex,
        },
      };
    },
    addNoise: (original, noise, timesteps) => addNoiseVp(ac, original, noise, timesteps),
  });
}
