/**
 * The common scaffolding of every scheduler, so that each scheduler file holds only its math:
 * {@link defineScheduler} turns a {@link SchedulerDefinition} (plan parts, initial state fields, the update) into a
 * {@link Scheduler} with the checks (step count, plan/state ownership, step order, shapes, allowed options), the
 * frozen plan and states, model-input scaling, the per-step noise of stochastic schedulers, `tf.tidy` around the
 * update and the consume-on-step state disposal described in `types.ts`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import { randn } from '../random.js';
import type { NoiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig, SchedulerClassName } from './config.js';
import { assertSample, checkHistory, checkInit, checkPlanStep, checkStep, oneCallPerStep, releaseState, retireState } from './state.js';
import { checkStepCount } from './timesteps.js';
import type { Scheduler, SchedulerPlan, SchedulerState, StepOptions } from './types.js';

/**
 * The per-class fields of a state (those beyond {@link SchedulerState}).
 *
 * @example
 * ```ts
 * const fields: StateFields<LmsState> = { derivatives: [] };
 * ```
 */
export type StateFields<S extends SchedulerState> = Omit<S, keyof SchedulerState>;

/**
 * What a class computes for `setTimesteps(n)`; `callStep`/`numSteps` default to one call per step, `sigmas` to
 * undefined and `initNoiseSigma` to 1.
 *
 * @example
 * ```ts
 * const parts: PlanParts = { timesteps: [901, 801], initNoiseSigma: 1 };
 * ```
 */
export interface PlanParts {
  timesteps: readonly number[];
  sigmas?: Float32Array;
  initNoiseSigma?: number;
  callStep?: readonly number[];
  numSteps?: number;
}

/**
 * The arguments of one update, already checked.
 *
 * @example
 * ```ts
 * const update = ({ modelOutput, sample, stepIndex, plan }: StepContext<DdimState>) => ...;
 * ```
 */
export interface StepContext<S extends SchedulerState> {
  readonly modelOutput: tf.Tensor4D;
  readonly stepIndex: number;
  readonly sample: tf.Tensor4D;
  readonly state: S;
  readonly plan: SchedulerPlan;
  readonly opts: StepOptions;
  /** Stochastic classes: this step's noise (`opts.noise`, or a draw from `opts.generator`). Call at most once. */
  readonly noise: () => tf.Tensor4D;
}

/**
 * What an update returns: new tensors for the caller and the next state's fields (tensors in them made with
 * `own`, so that the enclosing `tf.tidy` keeps them).
 *
 * @example
 * ```ts
 * return { prevSample, predOriginalSample, state: { derivatives: history.map(own) } };
 * ```
 */
export interface UpdateResult<S extends SchedulerState> {
  prevSample: tf.Tensor4D;
  predOriginalSample?: tf.Tensor4D | undefined;
  state: StateFields<S>;
}

/**
 * A scheduler class's math, for {@link defineScheduler}.
 *
 * @example
 * ```ts
 * const def: SchedulerDefinition<DdimState> = { className: 'DDIMScheduler', config, schedule, sequential: false,
 *   options: ['eta', 'noise'], plan: (n) => ({ timesteps: ddimTimesteps(...) }), initial: () => ({}),
 *   update: (ctx) => ..., addNoise: (x, z, t) => addNoiseVp(ac, x, z, t) };
 * ```
 */
export interface SchedulerDefinition<S extends SchedulerState> {
  readonly className: S['className'];
  readonly config: ResolvedSchedulerConfig;
  readonly schedule: NoiseSchedule;
  /** True when the state's history requires `stepIndex === state.nextStepIndex`. */
  readonly sequential: boolean;
  /** The {@link StepOptions} keys the class reads (`keepState` always; `noise`/`generator` when stochastic). */
  readonly options: readonly (keyof StepOptions)[];
  /** True when the update calls `ctx.noise()` (fresh noise each step). Default false. */
  readonly stochastic?: boolean;
  /** The plan of an N-step loop (N already checked against `num_train_timesteps`). */
  plan(n: number): PlanParts;
  /** The per-class fields of a fresh state; may throw for an unsupported `startIndex`. */
  initial(plan: SchedulerPlan, startIndex: number): StateFields<S>;
  /** The tensors a state owns (default none). */
  held?(state: S): readonly tf.Tensor[];
  /** The model input (called inside `tf.tidy`); default: a copy of the sample. */
  scale?(sample: tf.Tensor4D, stepIndex: number, plan: SchedulerPlan): tf.Tensor4D;
  /** The step's math, called inside `tf.tidy` after every check. */
  update(ctx: StepContext<S>): UpdateResult<S>;
  /** diffusers' `add_noise`. */
  addNoise(original: tf.Tensor4D, noise: tf.Tensor4D, timesteps: number | readonly number[], plan?: SchedulerPlan): tf.Tensor4D;
}

/**
 * Builds a {@link Scheduler} from a class's math: everything but the math is here.
 *
 * @param def the class definition
 * @example
 * ```ts
 * export const createLcmScheduler = (config: ResolvedSchedulerConfig) => defineScheduler<LcmState>({ ...lcmMath(config) });
 * ```
 */
export function defineScheduler<S extends SchedulerState>(def: SchedulerDefinition<S>): Scheduler<S> {
  const { className, config } = def;
  const cls = className as SchedulerClassName;
  const stochastic = def.stochastic ?? false;
  const options: readonly (keyof StepOptions)[] = stochastic ? [...def.options, 'noise', 'generator'] : def.options;
  const held = (s: S): readonly tf.Tensor[] => def.held?.(s) ?? [];
  const freezeState = (plan: SchedulerPlan, nextStepIndex: number, fields: StateFields<S>): S =>
    Object.freeze({ className, plan, nextStepIndex, ...fields }) as unknown as S;

  return {
    className: cls,
    config,
    schedule: def.schedule,
    stochastic,
    setTimesteps(n: number): SchedulerPlan {
      checkStepCount(n, config.numTrainTimesteps);
      const p = def.plan(n);
      const timesteps = Object.freeze([...p.timesteps]);
      const calls = p.callStep && p.numSteps !== undefined ? { callStep: Object.freeze([...p.callStep]), numSteps: p.numSteps } : oneCallPerStep(timesteps.length);
      return Object.freeze({
        className: cls, numInferenceSteps: n, timesteps, sigmas: p.sigmas, initNoiseSigma: p.initNoiseSigma ?? 1, ...calls,
      });
    },
    initState(plan, opts) {
      const startIndex = checkInit(cls, plan, opts?.startIndex);
      return freezeState(plan, startIndex, def.initial(plan, startIndex));
    },
    scaleModelInput(sample, stepIndex, plan) {
      assertSample('sample', sample);
      checkPlanStep(cls, plan, stepIndex);
      return tf.tidy(() => (def.scale ? def.scale(sample, stepIndex, plan) : tf.clone(sample)));
    },
    step(modelOutput, stepIndex, sample, state, opts: StepOptions = {}) {
      checkStep(cls, { modelOutput, stepIndex, sample, state, opts }, def.sequential, options);
      checkHistory(held(state), sample);
      if (stochastic && opts.noise && opts.generator) throw new OptionError('generator', `give ${className}.step noise or generator, not both`);
      const noise = (): tf.Tensor4D => {
        if (opts.noise) return opts.noise;
        if (!opts.generator) throw new OptionError('noise', `${className} is stochastic: pass the step's noise or a seeded generator`);
        return randn(sample.shape, opts.generator) as tf.Tensor4D;
      };
      const { plan } = state;
      const out = tf.tidy(() => {
        const r = def.update({ modelOutput, stepIndex, sample, state, plan, opts, noise });
        // A returned input would be freed by the caller twice; hand out copies instead.
        const fresh = (t: tf.Tensor4D) => (t === sample || t === modelOutput || t === opts.noise ? tf.clone(t) : t);
        return { ...r, prevSample: fresh(r.prevSample), predOriginalSample: r.predOriginalSample && fresh(r.predOriginalSample) };
      });
      retireState(state, held(state), stepIndex, opts.keepState);
      return { prevSample: out.prevSample, predOriginalSample: out.predOriginalSample, state: freezeState(plan, stepIndex + 1, out.state) };
    },
    addNoise(original, noise, timesteps, plan) {
      return def.addNoise(original, noise, timesteps, plan);
    },
    disposeState(state) {
      releaseState(state, held(state));
    },
  };
}
