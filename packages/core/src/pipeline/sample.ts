/**
 * The sampling loop as an async generator (MLX's `generate_latents` shape): each step runs one `tf.tidy`, yields
 * the new latents and x̂₀, and lets a callback replace the latents (Prompt-to-Prompt's local blend, inversion).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { NonFiniteError, OptionError } from '../errors.js';
import type { RandomGenerator } from '../random.js';
import { randn } from '../random.js';
import type { Scheduler, SchedulerPlan, StepOptions } from '../schedulers/index.js';
import type { Denoiser, StepInfo } from '../types.js';

/**
 * One finished step. `latents` and `x0Pred` stay valid until the loop resumes; keep a clone to hold them longer.
 *
 * @example
 * ```ts
 * for await (const ev of sampleLoop(denoise, scheduler, { latents, numInferenceSteps: 20 })) console.log(ev.index, ev.timestep);
 * ```
 */
export interface StepEvent extends StepInfo {
  /** Latents after this step `[B, H, W, C]`. */
  latents: tf.Tensor4D;
  /** The scheduler's predicted clean latents at this step, where it has one. */
  x0Pred: tf.Tensor4D | undefined;
}

/** Options of {@link sampleLoop}. */
export interface SampleOptions {
  /** Starting noise `[B, H, W, C]` at unit variance (multiplied by the scheduler's `initNoiseSigma`, as diffusers). */
  latents: tf.Tensor4D;
  /** Number of steps N (ignored when `plan` is given). */
  numInferenceSteps?: number;
  /** A plan made by `scheduler.setTimesteps`. */
  plan?: SchedulerPlan;
  /** DDIM η (default 0). */
  eta?: number;
  /** Generator for the per-step noise of stochastic steps (DDIM η > 0). */
  generator?: RandomGenerator;
  /**
   * Called after each step; may return replacement latents (ownership passes to the loop). Like diffusers'
   * `callback_on_step_end`.
   */
  onStepEnd?: (ev: StepEvent) => tf.Tensor4D | undefined | void;
  /** Progress callback: steps done and total. */
  onProgress?: (done: number, total: number) => void;
  /** Stops the loop before the next step when aborted. */
  signal?: AbortSignal;
  /**
   * Check after every step that the denoiser's output and the new latents are finite (default true): a NaN or
   * Inf throws {@link NonFiniteError} naming the step and where it first appeared, instead of decoding garbage.
   */
  checkFinite?: boolean;
}

/** Yields to the event loop (timers, I/O) between steps, so a server or notebook stays responsive. */
const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** 1 where every element is finite, else 0 (a scalar; NaN and ±Inf both fail). */
function allFinite(t: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.cast(tf.all(tf.isFinite(t)), 'float32') as tf.Scalar);
}

/**
 * Runs a denoising loop. Yields a {@link StepEvent} per step and returns the final latents (owned by the caller).
 * The loop leaves `tf.memory().numTensors` where it found it, apart from the returned tensor.
 *
 * @param denoiser  ε prediction (CFG, SEGA, attention control wrap the model here)
 * @param scheduler the scheduler (stateless; the loop holds its state)
 * @param opts      starting latents, steps, η, callbacks
 * @example
 * ```ts
 * const loop = sampleLoop(denoise, createScheduler(config), { latents, numInferenceSteps: 50 });
 * let r = await loop.next();
 * while (!r.done) r = await loop.next();
 * const final = r.value; // [B, 64, 64, 4]
 * ```
 */
export async function* sampleLoop(denoiser: Denoiser, scheduler: Scheduler, opts: SampleOptions): AsyncGenerator<StepEvent, tf.Tensor4D> {
  const plan = opts.plan ?? scheduler.setTimesteps(checkSteps(opts.numInferenceSteps));
  const count = plan.timesteps.length;
  const eta = opts.eta ?? 0;
  if (eta !== 0 && !opts.generator) throw new OptionError('eta', 'a generator is needed for the noise of eta > 0');
  if (scheduler.stochastic && !opts.generator) throw new OptionError('generator', `${scheduler.className} draws noise at every step: pass a seeded generator`);
  if (opts.latents.dtype !== 'float32') throw new OptionError('latents', `must be float32, got ${opts.latents.dtype}`);
  const checkFinite = opts.checkFinite ?? true;
  if (checkFinite) {
    const ok = allFinite(opts.latents);
    const finite = ok.dataSync()[0] === 1;
    ok.dispose();
    if (!finite) throw new NonFiniteError('the starting latents', undefined);
  }
  let state = scheduler.initState(plan);
  let x = tf.tidy(() => tf.mul(opts.latents, plan.initNoiseSigma) as tf.Tensor4D);
  let x0: tf.Tensor4D | undefined;
  try {
    for (let i = 0; i < count; i++) {
      if (opts.signal?.aborted) throw new OptionError('signal', `sampling aborted before step ${i} of ${count}`);
      const step: StepInfo = { index: plan.callStep[i]!, count: plan.numSteps, timestep: plan.timesteps[i]!, call: i };
      const noise = eta !== 0 ? randn(x.shape, opts.generator!) as tf.Tensor4D : undefined;
      const stepOpts: StepOptions = noise ? { eta, noise } : scheduler.stochastic ? { generator: opts.generator! } : {};
      const r = tf.tidy(() => {
        const input = scheduler.scaleModelInput(x, i, plan);
        const eps = denoiser(input, step);
        const out = scheduler.step(eps, i, x, state, stepOpts);
        state = out.state;
        const finite = checkFinite ? tf.stack([allFinite(input), allFinite(eps), allFinite(out.prevSample)]) : undefined;
        return { prev: out.prevSample, x0: out.predOriginalSample, finite };
      }) as { prev: tf.Tensor4D; x0?: tf.Tensor4D; finite?: tf.Tensor1D };
      noise?.dispose();
      if (r.finite) {
        const [inOk, epsOk, outOk] = r.finite.dataSync();
        r.finite.dispose();
        if (inOk !== 1 || epsOk !== 1 || outOk !== 1) {
          tf.dispose([r.prev, r.x0]);
          throw new NonFiniteError(inOk !== 1 ? "the scheduler's scaled model input" : epsOk !== 1 ? 'the denoiser output (UNet and guidance)' : "the scheduler's step output", step);
        }
      }
      x.dispose();
      x = r.prev;
      x0 = r.x0;
      const ev: StepEvent = { ...step, latents: x, x0Pred: x0 };
      const replaced = opts.onStepEnd?.(ev);
      if (replaced && replaced !== x) {
        x.dispose();
        x = replaced;
        ev.latents = x;
      }
      opts.onProgress?.(i + 1, count);
      yield ev;
      await nextTick();
      x0?.dispose();
      x0 = undefined;
    }
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    x0?.dispose();
    scheduler.disposeState(state);
  }
  return x;
}

function checkSteps(n: number | undefined): number {
  if (n === undefined || !Number.isInteger(n) || n < 1) throw new OptionError('numInferenceSteps', `must be a positive integer, got ${n}`);
  return n;
}

/**
 * Runs any of the step generators (a sampling loop, `textToImage`, SEGA, Prompt-to-Prompt, `edit`) to the end and
 * returns its result.
 *
 * @param loop the generator
 * @example
 * ```ts
 * const final = await runLoop(sampleLoop(denoise, scheduler, { latents, numInferenceSteps: 10 }));
 * ```
 */
export async function runLoop<T, R>(loop: AsyncGenerator<T, R>): Promise<R> {
  let r = await loop.next();
  while (!r.done) r = await loop.next();
  return r.value;
}
