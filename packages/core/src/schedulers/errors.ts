/**
 * Typed errors of the diffusion schedulers: an unknown scheduler class, a config key or value we do not support,
 * and misuse of the explicit step state (a consumed state reused, a step out of order, a plan of another scheduler).
 * Bad tensor shapes are {@link ShapeMismatchError}s and bad call options {@link OptionError}s.
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * A scheduler config names a `_class_name` that has no implementation here.
 *
 * @example
 * ```ts
 * try { createScheduler({ _class_name: 'UniPCMultistepScheduler' }); }
 * catch (e) { if (e instanceof UnknownSchedulerError) console.log(e.className, e.supported.length); } // 'UniPCMultistepScheduler' 6
 * ```
 */
export class UnknownSchedulerError extends SemeditError {
  /**
   * @param className the class name that was asked for
   * @param supported the class names that are implemented
   * @param file      the config file it came from, when known
   */
  constructor(readonly className: string, readonly supported: readonly string[], readonly file?: string) {
    super(
      'E_UNKNOWN_SCHEDULER',
      `${file ? `${file}: ` : ''}unknown scheduler "_class_name": ${JSON.stringify(className)}; supported: ${supported.join(', ')}`,
    );
  }
}

/**
 * The explicit scheduler state was misused: a state that a step already consumed (or that was disposed) was passed
 * again, a multistep scheduler was stepped out of order, or a plan/state of another scheduler class was passed.
 *
 * @example
 * ```ts
 * const next = s.step(eps, 0, x, state).state;
 * s.step(eps, 1, x, state); // throws SchedulerStateError: state was consumed by step 0
 * ```
 */
export class SchedulerStateError extends SemeditError {
  /**
   * @param detail what is wrong
   */
  constructor(detail: string) {
    super('E_SCHEDULER_STATE', detail);
  }
}
