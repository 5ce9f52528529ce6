/**
 * Argument checks and state bookkeeping shared by the schedulers: sample shapes, plan/state ownership, step order,
 * and the consume-on-step rule described in `types.ts`. A module-level `WeakMap` remembers which states were
 * consumed or disposed, so reusing one fails loudly instead of reading freed tensors.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import type { SchedulerClassName } from './config.js';
import { SchedulerStateError } from './errors.js';
import type { SchedulerPlan, SchedulerState, StepOptions } from './types.js';

const retired = new WeakMap<object, string>();

/**
 * Checks that `t` is a live float32 tensor of rank 4 (`[B, H, W, C]`).
 *
 * @param name argument name for the error
 * @param t    the tensor
 * @example
 * ```ts
 * assertSample('sample', tf.zeros([1, 8, 8, 4])); // ok; a [4, 8, 8] tensor throws ShapeMismatchError
 * ```
 */
export function assertSample(name: string, t: tf.Tensor): void {
  if (!(t instanceof tf.Tensor)) throw new OptionError(name, 'must be a tf.Tensor');
  if (t.isDisposed) throw new OptionError(name, 'is disposed');
  if (t.rank !== 4) throw new ShapeMismatchError(name, [-1, -1, -1, -1], t.shape);
  if (t.dtype !== 'float32') throw new OptionError(name, `must be float32, got ${t.dtype}`);
}

/**
 * Checks that `t` is a live float32 tensor with exactly the shape of `ref`.
 *
 * @param name argument name for the error
 * @param t    the tensor
 * @param ref  the tensor whose shape it must have (the sample)
 * @example
 * ```ts
 * assertSameShape('modelOutput', eps, sample);
 * ```
 */
export function assertSameShape(name: string, t: tf.Tensor, ref: tf.Tensor): void {
  assertSample(name, t);
  if (t.shape.some((d, i) => d !== ref.shape[i])) throw new ShapeMismatchError(name, ref.shape, t.shape);
}

/**
 * Checks that a plan was made by `className` and that `stepIndex` is one of its steps.
 *
 * @param className the scheduler class
 * @param plan      the plan passed in
 * @param stepIndex the step asked for
 * @param name      the argument's name in errors
 * @example
 * ```ts
 * checkPlanStep('DDIMScheduler', plan, 3);
 * ```
 */
export function checkPlanStep(className: SchedulerClassName, plan: SchedulerPlan, stepIndex: number, name = 'stepIndex'): void {
  if (!plan || plan.className !== className) {
    throw new SchedulerStateError(`plan of ${plan?.className ?? String(plan)} passed to ${className}`);
  }
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= plan.timesteps.length) {
    throw new OptionError(name, `must be an integer in [0, ${plan.timesteps.length}), got ${stepIndex}`);
  }
}

/**
 * Validates the common arguments of `step`: shapes, the plan, the state's class and liveness, the step order
 * (for multistep schedulers) and that only the options this class uses are set.
 *
 * @param className  the scheduler class
 * @param args       the step's arguments
 * @param sequential true when the state's history requires `stepIndex === state.nextStepIndex`
 * @param allowed    the {@link StepOptions} keys this class reads (`keepState` is always allowed)
 * @example
 * ```ts
 * checkStep('PNDMScheduler', { modelOutput, stepIndex, sample, state, opts }, true, []);
 * ```
 */
export function checkStep(
  className: SchedulerClassName,
  args: { modelOutput: tf.Tensor; stepIndex: number; sample: tf.Tensor; state: SchedulerState; opts: StepOptions },
  sequential: boolean,
  allowed: readonly (keyof StepOptions)[],
): void {
  const { modelOutput, stepIndex, sample, state, opts } = args;
  if (!state || state.className !== className) {
    throw new SchedulerStateError(`state of ${state?.className ?? String(state)} passed to ${className}.step`);
  }
  const why = retired.get(state);
  if (why !== undefined) throw new SchedulerStateError(`${className}.step got a state that was ${why}; pass the state the last step returned`);
  checkPlanStep(className, state.plan, stepIndex);
  if (sequential && stepIndex !== state.nextStepIndex) {
    throw new SchedulerStateError(`${className} is multistep: the state is ready for step ${state.nextStepIndex}, got stepIndex ${stepIndex}`);
  }
  assertSample('sample', sample);
  assertSameShape('modelOutput', modelOutput, sample);
  for (const [key, value] of Object.entries(opts)) {
    if (value === undefined || key === 'keepState') continue;
    if (!(allowed as readonly string[]).includes(key)) throw new OptionError(key, `is not an option of ${className}.step`);
  }
  if (opts.noise !== undefined) assertSameShape('noise', opts.noise, sample);
}

/**
 * Checks that the tensors a state holds still fit the sample (a history from another resolution is an error).
 *
 * @param held   the state's tensors
 * @param sample the current sample
 * @example
 * ```ts
 * checkHistory(state.ets, sample);
 * ```
 */
export function checkHistory(held: readonly tf.Tensor[], sample: tf.Tensor): void {
  for (const t of held) {
    if (t.shape.some((d, i) => d !== sample.shape[i])) throw new ShapeMismatchError('sample (vs. the state history)', t.shape, sample.shape);
  }
}

/**
 * Ends a step: unless `keepState`, marks the old state consumed and disposes the tensors it held.
 *
 * @param old       the state passed to the step
 * @param held      the tensors `old` owns
 * @param stepIndex the step that consumed it (for the error message on reuse)
 * @param keepState the caller's `keepState` option
 * @example
 * ```ts
 * retireState(state, state.history, i, opts.keepState);
 * ```
 */
export function retireState(old: SchedulerState, held: readonly tf.Tensor[], stepIndex: number, keepState: boolean | undefined): void {
  if (keepState) return;
  retired.set(old, `consumed by step ${stepIndex}`);
  tf.dispose(held as tf.Tensor[]);
}

/**
 * Disposes a live state's tensors and marks it disposed; does nothing for a consumed or already disposed state.
 *
 * @param state the state
 * @param held  the tensors it owns
 * @example
 * ```ts
 * releaseState(state, state.history);
 * ```
 */
export function releaseState(state: SchedulerState, held: readonly tf.Tensor[]): void {
  if (retired.has(state)) return;
  retired.set(state, 'disposed');
  tf.dispose(held as tf.Tensor[]);
}

/**
 * A handle on `t` owned by a state: a clone (shared data) marked kept, so no enclosing `tf.tidy` frees it.
 *
 * @param t a tensor (the caller's, or a temporary)
 * @example
 * ```ts
 * const ets = [...carried.map(own), own(modelOutput)];
 * ```
 */
export function own<T extends tf.Tensor>(t: T): T {
  return tf.keep(tf.clone(t));
}

/**
 * Checks `initState`'s arguments and returns the start index.
 *
 * @param className the scheduler class
 * @param plan      the plan
 * @param startIndex first step of the loop (default 0)
 * @example
 * ```ts
 * const next = checkInit('DDIMScheduler', plan, opts?.startIndex);
 * ```
 */
export function checkInit(className: SchedulerClassName, plan: SchedulerPlan, startIndex = 0): number {
  checkPlanStep(className, plan, startIndex, 'startIndex');
  return startIndex;
}

/**
 * The `callStep` and `numSteps` fields of a plan whose every model call is one sampler step (identity mapping).
 *
 * @param numCalls the plan's `timesteps.length`
 * @example
 * ```ts
 * oneCallPerStep(3); // { callStep: [0, 1, 2], numSteps: 3 }
 * ```
 */
export function oneCallPerStep(numCalls: number): { callStep: readonly number[]; numSteps: number } {
  return { callStep: Object.freeze(Array.from({ length: numCalls }, (_, i) => i)), numSteps: numCalls };
}
