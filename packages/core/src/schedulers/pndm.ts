/**
 * PNDM's pseudo linear multistep method (PLMS; Liu, Ren, Lin & Zhao 2022, "Pseudo Numerical Methods for Diffusion
 * Models on Manifolds", arXiv:2202.09778, eq. 12 (transfer φ) and eq. 13 (linear multistep ε′)), as diffusers'
 * `PNDMScheduler` with `skip_prk_steps=True` (the setting of every Stable Diffusion config).
 *
 * Symbols: ε_i = the model output of step i (`ets` keeps the last ones), ε′ = the combined noise fed to φ,
 * ᾱ_t → `alphaProdT`, ᾱ_{t−δ} → `alphaProdTPrev`, δ = ⌊T/N⌋.
 *
 * The step list has N + 1 entries (second-to-last timestep repeated). Step 0 moves t₀ → t₀ − δ with ε₀; step 1 is the
 * pseudo improved-Euler warm-up: it *redoes* t₀ → t₀ − δ from the step-0 input with (ε₀ + ε₁)/2. From step 2 on the
 * Adams–Bashforth combinations of the history are used: (3ε − ε₋₁)/2, (23ε − 16ε₋₁ + 5ε₋₂)/12, then
 * (55ε − 59ε₋₁ + 37ε₋₂ − 9ε₋₃)/24. As in diffusers, the warm-up ε₁ is not kept in the history.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { noiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { addNoiseVp } from './noising.js';
import { assertSample, checkHistory, checkInit, checkPlanStep, checkStep, own, releaseState, retireState } from './state.js';
import { checkStepCount, plmsTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerPlan, SchedulerState, StepOptions, StepResult } from './types.js';

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
  /** The sample given to step 0, kept for the warm-up step 1; null otherwise. */
  readonly curSample: tf.Tensor4D | null;
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
 * Creates a PNDM scheduler (`PNDMScheduler`, PLMS steps only; `skip_prk_steps` must be true).
 *
 * @param config a resolved config of class `PNDMScheduler`
 * @example
 * ```ts
 * const pndm = createPndmScheduler(resolveSchedulerConfig(sd15SchedulerJson));
 * pndm.setTimesteps(10).timesteps; // [901, 801, 801, 701, ..., 1] (11 steps)
 * ```
 */
export function createPndmScheduler(config: ResolvedSchedulerConfig): Scheduler<PndmState> {
  const className = 'PNDMScheduler';
  const schedule = noiseSchedule(config);
  const ac = schedule.alphasCumprod;
  const finalAlphaCumprod = config.setAlphaToOne ? 1 : ac[0]!;
  const T = config.numTrainTimesteps;
  const alphaAt = (t: number) => (t >= 0 ? ac[t]! : finalAlphaCumprod);
  const held = (s: PndmState): tf.Tensor[] => (s.curSample ? [...s.ets, s.curSample] : [...s.ets]);

  return {
    className,
    config,
    schedule,
    setTimesteps(n: number): SchedulerPlan {
      checkStepCount(n, T);
      const timesteps = Object.freeze(plmsTimesteps(config.timestepSpacing, T, n, config.stepsOffset));
      // Calls 0 and 1 are one PLMS step (the warm-up redoes step 0); call i >= 1 is step i - 1.
      const callStep = Object.freeze(timesteps.map((_, i) => Math.max(0, i - 1)));
      return Object.freeze({
        className, numInferenceSteps: n, timesteps, sigmas: undefined, initNoiseSigma: 1, callStep, numSteps: callStep[callStep.length - 1]! + 1,
      });
    },
    initState(plan, opts) {
      const startIndex = checkInit(className, plan, opts?.startIndex);
      return Object.freeze({ className, plan, nextStepIndex: startIndex, ets: Object.freeze([]), curSample: null, startIndex });
    },
    scaleModelInput(sample, stepIndex, plan) {
      assertSample('sample', sample);
      checkPlanStep(className, plan, stepIndex);
      return tf.clone(sample);
    },
    step(modelOutput, stepIndex, sample, state, opts: StepOptions = {}): StepResult<PndmState> {
      checkStep(className, { modelOutput, stepIndex, sample, state, opts }, true, []);
      checkHistory(held(state), sample);
      const { plan } = state;
      // `counter` of diffusers: the number of steps taken since the state was made.
      const counter = stepIndex - state.startIndex;
      const delta = Math.floor(T / plan.numInferenceSteps);
      let timestep = plan.timesteps[stepIndex]!;
      let prevTimestep = timestep - delta;
      if (counter === 1) {
        // Warm-up: redo the step-0 transfer t₀ → t₀ − δ (this step's timestep is t₀ − δ).
        prevTimestep = timestep;
        timestep = timestep + delta;
      }
      const out = tf.tidy(() => {
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
        // 2. ᾱ of both levels; v-prediction is converted to ε at the level of the input sample.
        const alphaProdT = alphaAt(timestep);
        const alphaProdTPrev = alphaAt(prevTimestep);
        if (config.predictionType === 'v_prediction') {
          eps = tf.add(tf.mul(eps, Math.sqrt(alphaProdT)), tf.mul(from, Math.sqrt(1 - alphaProdT)));
        }
        // 3. The transfer φ (eq. 12).
        const prevSample = pndmTransfer(from, eps, alphaProdT, alphaProdTPrev);
        // 4. The next state's tensors: the last 3 outputs, and the step-0 sample for the warm-up.
        const nextEts = ets.slice(-3).map(own);
        const curSample = counter === 0 ? own(sample) : undefined;
        return { prevSample, nextEts, curSample };
      });
      retireState(state, held(state), stepIndex, opts.keepState);
      const next: PndmState = Object.freeze({
        className, plan, nextStepIndex: stepIndex + 1, ets: Object.freeze(out.nextEts), curSample: out.curSample ?? null,
        startIndex: state.startIndex,
      });
      return { prevSample: out.prevSample, predOriginalSample: undefined, state: next };
    },
    addNoise(original, noise, timesteps) {
      return addNoiseVp(ac, original, noise, timesteps);
    },
    disposeState(state) {
      releaseState(state, held(state));
    },
  };
}
