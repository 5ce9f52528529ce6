/**
 * Ranger, the optimizer StyleCLIP's mapper coach uses by default: RAdam (Adam whose adaptive step is switched on
 * only once the variance of the adaptive learning rate is tractable, and rectified) combined with Lookahead (slow
 * weights pulled towards the fast ones every k steps) and gradient centralisation (the gradient of every
 * multi-dimensional parameter made zero-mean per output unit). Over named `tf.Variable`s, learning rate per step,
 * state exportable to plain arrays.
 *
 * Per step t (1-based), for each parameter p with gradient g:
 *   gradient centralisation (p of rank > 1): g ← g − mean(g over every axis but the output axis);
 *   v ← β₂v + (1−β₂)g²;  m ← β₁m + (1−β₁)g;
 *   ρ∞ = 2/(1−β₂) − 1,  ρₜ = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ);
 *   if ρₜ > threshold: p ← p − lr · r / (1−β₁ᵗ) · m / (√v + ε),  r = √((1−β₂ᵗ)(ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρₜ));
 *   else:              p ← p − lr / (1−β₁ᵗ) · m   (momentum SGD, the second moment unused);
 *   if t mod k = 0:    slow ← slow + α(p − slow);  p ← slow   (slow starts as the initial p).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import type { OptimizerSnapshot, StepOptimizer } from './adam.js';

/**
 * Ranger hyper-parameters; defaults are those of StyleCLIP's coach (`Ranger(params, lr)`).
 *
 * @example
 * ```ts
 * const o: RangerOptions = { beta1: 0.95, beta2: 0.999, eps: 1e-5, alpha: 0.5, k: 6, nSmaThreshold: 5 };
 * ```
 */
export interface RangerOptions {
  /** First-moment decay, default 0.95. */
  beta1?: number;
  /** Second-moment decay, default 0.999. */
  beta2?: number;
  /** Added to √v in the rectified step, default 1e-5. */
  eps?: number;
  /** Lookahead interpolation factor, default 0.5. */
  alpha?: number;
  /** Lookahead period in steps, default 6. */
  k?: number;
  /** The adaptive (rectified) step is taken when ρₜ exceeds this, default 5. */
  nSmaThreshold?: number;
  /** Gradient centralisation, default true. */
  useGc?: boolean;
  /** Centralise only parameters of rank > 3 (convolution kernels), default false (every rank > 1). */
  gcConvOnly?: boolean;
  /** Weight decay: `p ← p − lr·wd·p` before the update, default 0. */
  weightDecay?: number;
  /**
   * The output axis of a parameter, kept when centralising (the mean is over every other axis). Default 0, the
   * PyTorch layout (`[out, in, ...]`); a dense kernel stored `[in, out]` has output axis 1.
   */
  outputAxis?: (name: string, p: tf.Variable) => number;
}

/**
 * The RAdam part of one Ranger step, a function of the step count only.
 *
 * @example
 * ```ts
 * const s: RangerStepInfo = rangerSchedule(6); // { step: 6, nSma: 5.994..., stepSize: 0.00754..., rectified: true, lookahead: true }
 * ```
 */
export interface RangerStepInfo {
  /** 1-based step count t. */
  step: number;
  /** ρₜ, the length of the approximated simple moving average. */
  nSma: number;
  /** The factor multiplying `lr · m` (divided by `√v + ε` when rectified). */
  stepSize: number;
  /** Whether the adaptive (rectified) branch is taken. */
  rectified: boolean;
  /** Whether this step synchronises the Lookahead slow weights. */
  lookahead: boolean;
}

/**
 * ρₜ, the step size and the branch of Ranger's step t (1-based), in float64.
 *
 * @param t    step count, an integer ≥ 1
 * @param opts `beta1`, `beta2`, `nSmaThreshold`, `k`
 * @throws OptionError for a step that is not a positive integer
 * @example
 * ```ts
 * rangerSchedule(1).stepSize; // 1 / (1 - 0.95) = 20 (momentum SGD)
 * rangerSchedule(6).rectified; // true: the first adaptive step
 * ```
 */
export function rangerSchedule(t: number, opts: RangerOptions = {}): RangerStepInfo {
  if (!Number.isInteger(t) || t < 1) throw new OptionError('step', `must be an integer >= 1, got ${t}`);
  const { beta1, beta2, nSmaThreshold, k } = resolve(opts);
  const b2t = beta2 ** t;
  const nSmaMax = 2 / (1 - beta2) - 1;
  const nSma = nSmaMax - (2 * t * b2t) / (1 - b2t);
  const bc1 = 1 - beta1 ** t;
  const rectified = nSma > nSmaThreshold;
  const stepSize = rectified
    ? Math.sqrt((1 - b2t) * ((nSma - 4) / (nSmaMax - 4)) * ((nSma - 2) / nSma) * (nSmaMax / (nSmaMax - 2))) / bc1
    : 1 / bc1;
  return { step: t, nSma, stepSize, rectified, lookahead: t % k === 0 };
}

type Resolved = Required<Omit<RangerOptions, 'outputAxis'>> & { outputAxis: (name: string, p: tf.Variable) => number };

function resolve(opts: RangerOptions): Resolved {
  const r: Resolved = {
    beta1: opts.beta1 ?? 0.95, beta2: opts.beta2 ?? 0.999, eps: opts.eps ?? 1e-5, alpha: opts.alpha ?? 0.5, k: opts.k ?? 6,
    nSmaThreshold: opts.nSmaThreshold ?? 5, weightDecay: opts.weightDecay ?? 0, useGc: opts.useGc ?? true, gcConvOnly: opts.gcConvOnly ?? false,
    outputAxis: opts.outputAxis ?? (() => 0),
  };
  for (const key of ['beta1', 'beta2'] as const) {
    if (!(r[key] >= 0 && r[key] < 1)) throw new OptionError(key, `must be in [0, 1), got ${r[key]}`);
  }
  if (!(r.eps >= 0)) throw new OptionError('eps', `must be >= 0, got ${r.eps}`);
  if (!(r.weightDecay >= 0)) throw new OptionError('weightDecay', `must be >= 0, got ${r.weightDecay}`);
  if (!(r.alpha >= 0 && r.alpha <= 1)) throw new OptionError('alpha', `must be in [0, 1], got ${r.alpha}`);
  if (!Number.isInteger(r.k) || r.k < 1) throw new OptionError('k', `must be an integer >= 1, got ${r.k}`);
  if (!Number.isFinite(r.nSmaThreshold)) throw new OptionError('nSmaThreshold', `must be finite, got ${r.nSmaThreshold}`);
  return r;
}

/**
 * Gradient centralisation: `g − mean(g)` over every axis except `outputAxis`, so each output unit's slice of the
 * gradient has zero mean. Rank-1 (or rank-0) gradients are returned unchanged (a clone).
 *
 * @param g          a gradient
 * @param outputAxis the axis kept (0 for PyTorch's `[out, in, ...]`)
 * @example
 * ```ts
 * const c = centralizeGradient(tf.tensor2d([[1, 3], [2, 6]]), 0); // [[-1, 1], [-2, 2]]
 * ```
 */
export function centralizeGradient(g: tf.Tensor, outputAxis = 0): tf.Tensor {
  if (g.rank < 2) return tf.clone(g);
  if (!Number.isInteger(outputAxis) || outputAxis < 0 || outputAxis >= g.rank) {
    throw new OptionError('outputAxis', `must be an axis of a rank-${g.rank} gradient, got ${outputAxis}`);
  }
  const axes = Array.from({ length: g.rank }, (_, i) => i).filter((i) => i !== outputAxis);
  return tf.tidy(() => tf.sub(g, tf.mean(g, axes, true)));
}

/** A non-trainable variable holding `init`'s values; `init` is disposed. */
function ownVariable(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init, false);
  init.dispose();
  return v;
}

/**
 * Ranger over named variables.
 *
 * @example
 * ```ts
 * const w = tf.variable(init);
 * const opt = new Ranger(new Map([['w', w]]));
 * const { grads } = tf.variableGrads(() => loss(w), [w]);
 * opt.step(new Map([['w', grads[w.name]!]]), 0.5);
 * opt.dispose();
 * ```
 */
export class Ranger implements StepOptimizer {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly slow = new Map<string, tf.Variable>();
  private t = 0;
  private readonly o: Resolved;

  /**
   * @param params the variables to update, by name (not owned); their current values start the slow weights
   * @param opts   see {@link RangerOptions}
   */
  constructor(readonly params: ReadonlyMap<string, tf.Variable>, opts: RangerOptions = {}) {
    this.o = resolve(opts);
    for (const [name, p] of params) {
      this.m.set(name, ownVariable(tf.zerosLike(p)));
      this.v.set(name, ownVariable(tf.zerosLike(p)));
      this.slow.set(name, ownVariable(tf.clone(p)));
    }
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /**
   * One Ranger step with the given gradients (every parameter must have one; they are not modified or disposed).
   *
   * @param grads gradients by parameter name, each the parameter's shape
   * @param lr    learning rate of this step
   * @returns the step's schedule (ρₜ, step size, branch, Lookahead sync)
   * @example
   * ```ts
   * const info = opt.step(grads, 0.5); // info.rectified is false for the first 5 steps with the defaults
   * ```
   */
  step(grads: ReadonlyMap<string, tf.Tensor>, lr: number): RangerStepInfo {
    if (!Number.isFinite(lr)) throw new OptionError('lr', `must be finite, got ${lr}`);
    for (const name of this.params.keys()) if (!grads.has(name)) throw new OptionError('grads', `no gradient for "${name}"`);
    const info = rangerSchedule(this.t + 1, this.o);
    this.t += 1;
    const { beta1, beta2, eps, alpha, useGc, gcConvOnly, weightDecay } = this.o;
    const gcMinRank = gcConvOnly ? 4 : 2;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const raw = grads.get(name)!;
        const g = useGc && raw.rank >= gcMinRank ? centralizeGradient(raw, this.o.outputAxis(name, p)) : raw;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        const update = info.rectified ? tf.div(m, tf.add(tf.sqrt(v), eps)) : m;
        const decayed = weightDecay === 0 ? p : tf.sub(p, tf.mul(p, lr * weightDecay));
        p.assign(tf.sub(decayed, tf.mul(update, lr * info.stepSize)));
        if (info.lookahead) {
          const slow = this.slow.get(name)!;
          slow.assign(tf.add(slow, tf.mul(tf.sub(p, slow), alpha)));
          p.assign(slow);
        }
      }
    });
    return info;
  }

  /**
   * The state of one parameter under PyTorch's names (`exp_avg`, `exp_avg_sq`, `slow_buffer`); the optimizer's
   * own variables, valid until the next step (do not dispose).
   *
   * @param name a parameter name
   * @example
   * ```ts
   * opt.stateTensors('w').slow_buffer.shape; // w's shape
   * ```
   */
  stateTensors(name: string): Readonly<Record<string, tf.Tensor>> {
    const m = this.m.get(name);
    if (!m) throw new OptionError('name', `no parameter "${name}"`);
    return { exp_avg: m, exp_avg_sq: this.v.get(name)!, slow_buffer: this.slow.get(name)! };
  }

  /**
   * The state as plain arrays: buffers `m`, `v` and `slow` by parameter name.
   *
   * @example
   * ```ts
   * const s = opt.snapshot(); s.buffers['slow']!.get('w')!.data;
   * ```
   */
  snapshot(): OptimizerSnapshot {
    const dump = (vars: Map<string, tf.Variable>) =>
      new Map([...vars].map(([k, x]) => [k, { shape: [...x.shape], data: x.dataSync() as Float32Array }]));
    return { step: this.t, buffers: { m: dump(this.m), v: dump(this.v), slow: dump(this.slow) } };
  }

  /**
   * Restores a state from {@link Ranger.snapshot} (every buffer, names and shapes must match).
   *
   * @param state the saved state
   * @throws OptionError naming a missing or mis-shaped buffer
   * @example
   * ```ts
   * opt.restore(saved); // continues exactly, Lookahead phase included
   * ```
   */
  restore(state: OptimizerSnapshot): void {
    restoreBuffers(state, { m: this.m, v: this.v, slow: this.slow });
    this.t = state.step;
  }

  /**
   * Frees the state buffers (not the parameters).
   *
   * @example
   * ```ts
   * opt.dispose();
   * ```
   */
  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values(), ...this.slow.values()]);
  }
}

/**
 * Copies the arrays of a snapshot into the matching variables (all checked before any is written).
 *
 * @param state   the snapshot
 * @param targets variables by buffer name, then parameter name
 * @throws OptionError naming a missing or mis-shaped buffer
 * @example
 * ```ts
 * restoreBuffers(saved, { m: moments, v: secondMoments });
 * ```
 */
export function restoreBuffers(state: OptimizerSnapshot, targets: Readonly<Record<string, ReadonlyMap<string, tf.Variable>>>): void {
  if (!Number.isInteger(state.step) || state.step < 0) throw new OptionError('optimizer state', `step must be an integer >= 0, got ${state.step}`);
  for (const [which, vars] of Object.entries(targets)) {
    for (const [name, x] of vars) {
      const s = state.buffers[which]?.get(name);
      if (!s || s.shape.length !== x.shape.length || s.shape.some((d, i) => d !== x.shape[i])) {
        throw new OptionError('optimizer state', `${which} of "${name}" is missing or has the wrong shape`);
      }
    }
  }
  for (const [which, vars] of Object.entries(targets)) {
    for (const [name, x] of vars) {
      const s = state.buffers[which]!.get(name)!;
      const value = tf.tensor(s.data, s.shape);
      x.assign(value);
      value.dispose();
    }
  }
}
