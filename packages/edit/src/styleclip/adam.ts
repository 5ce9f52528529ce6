/**
 * Adam as PyTorch's `torch.optim.Adam` computes it (bias corrections applied to the step size and to `√v`), over
 * named `tf.Variable`s, with a learning rate given per step (StyleCLIP changes it every step) and a state that can
 * be exported to and restored from plain arrays (for checkpoints that resume exactly).
 *
 * Per step t (1-based), for each parameter p with gradient g:
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';

/**
 * Adam hyper-parameters (PyTorch defaults).
 *
 * @example
 * ```ts
 * const o: AdamOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
 * ```
 */
export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty added to the gradient as PyTorch's Adam does (`g + wd·p`), default 0. */
  weightDecay?: number;
  /** AMSGrad is not implemented: only `false` (the default) is accepted. */
  amsgrad?: boolean;
}

/**
 * Adam's state as plain data: the step count and the moments per parameter name.
 *
 * @example
 * ```ts
 * const s: AdamState = { step: 0, m: new Map(), v: new Map() };
 * ```
 */
export interface AdamState {
  step: number;
  m: Map<string, { shape: number[]; data: Float32Array }>;
  v: Map<string, { shape: number[]; data: Float32Array }>;
}

/**
 * An optimizer state as plain data: the step count and, per buffer (`m`, `v`, Ranger's `slow`), the arrays by
 * parameter name.
 *
 * @example
 * ```ts
 * const s: OptimizerSnapshot = { step: 0, buffers: { m: new Map(), v: new Map() } };
 * ```
 */
export interface OptimizerSnapshot {
  step: number;
  buffers: Record<string, Map<string, { shape: number[]; data: Float32Array }>>;
}

/**
 * What training loops need from an optimizer over named variables ({@link Adam}, `Ranger`).
 *
 * @example
 * ```ts
 * const opt: StepOptimizer = name === 'adam' ? new Adam(vars) : new Ranger(vars);
 * opt.step(grads, lr);
 * ```
 */
export interface StepOptimizer {
  /** Steps taken so far. */
  readonly stepCount: number;
  /** One update; the gradients are neither modified nor disposed. */
  step(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void;
  /** One parameter's state under PyTorch's state names (`exp_avg`, ...); the optimizer's own tensors. */
  stateTensors(name: string): Readonly<Record<string, tf.Tensor>>;
  /** The state as plain arrays. */
  snapshot(): OptimizerSnapshot;
  /** Restores a {@link StepOptimizer.snapshot}. */
  restore(state: OptimizerSnapshot): void;
  /** Frees the state (not the parameters). */
  dispose(): void;
}

/**
 * PyTorch-exact Adam over named variables.
 *
 * @example
 * ```ts
 * const w = tf.variable(init);
 * const adam = new Adam(new Map([['w', w]]));
 * const grads = tf.variableGrads(() => loss(w), [w]).grads; // keyed by variable name
 * adam.step(new Map([['w', grads[w.name]!]]), 0.1);
 * adam.dispose();
 * ```
 */
export class Adam implements StepOptimizer {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  /**
   * @param params the variables to update, by name (not owned)
   * @param opts   `beta1` (0.9), `beta2` (0.999), `eps` (1e-8), `weightDecay` (0)
   * @throws OptionError for betas outside [0, 1), a negative eps or weight decay, or `amsgrad: true`
   */
  constructor(readonly params: ReadonlyMap<string, tf.Variable>, opts: AdamOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) if (!(b >= 0 && b < 1)) throw new OptionError(k, `must be in [0, 1), got ${b}`);
    if (!(this.eps >= 0)) throw new OptionError('eps', `must be >= 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new OptionError('weightDecay', `must be >= 0, got ${this.weightDecay}`);
    if (opts.amsgrad) throw new OptionError('amsgrad', 'is not implemented (only false)');
    for (const [name, p] of params) {
      for (const moments of [this.m, this.v]) {
        const zeros = tf.zerosLike(p);
        moments.set(name, tf.variable(zeros, false));
        zeros.dispose();
      }
    }
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /**
   * One update with the given gradients (every parameter must have one) and learning rate. Does not dispose the
   * gradients.
   *
   * @param grads gradients by parameter name, each the parameter's shape
   * @param lr    learning rate of this step
   * @example
   * ```ts
   * adam.step(grads, getLr(t / steps) * 0.1);
   * ```
   */
  step(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    if (!Number.isFinite(lr)) throw new OptionError('lr', `must be finite, got ${lr}`);
    this.t += 1;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const raw = grads.get(name);
        if (!raw) throw new OptionError('grads', `no gradient for "${name}"`);
        const g = this.weightDecay === 0 ? raw : tf.add(raw, tf.mul(p, this.weightDecay));
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), lr / bc1)));
      }
    });
  }

  /**
   * The state as plain arrays (for a checkpoint).
   *
   * @example
   * ```ts
   * const s = adam.exportState(); s.step; // 120
   * ```
   */
  exportState(): AdamState {
    const dump = (vars: Map<string, tf.Variable>) =>
      new Map([...vars].map(([k, x]) => [k, { shape: [...x.shape], data: x.dataSync() as Float32Array }]));
    return { step: this.t, m: dump(this.m), v: dump(this.v) };
  }

  /**
   * Restores a state exported by {@link Adam.exportState} (names and shapes must match).
   *
   * @param state the saved state
   * @example
   * ```ts
   * adam.restoreState(saved); // continue exactly where the checkpoint stopped
   * ```
   */
  restoreState(state: AdamState): void {
    for (const [which, vars] of [['m', this.m], ['v', this.v]] as const) {
      for (const [name, x] of vars) {
        const s = state[which].get(name);
        if (!s || s.shape.length !== x.shape.length || s.shape.some((d, i) => d !== x.shape[i])) {
          throw new OptionError('optimizer state', `${which} of "${name}" is missing or has the wrong shape`);
        }
        const value = tf.tensor(s.data, s.shape);
        x.assign(value);
        value.dispose();
      }
    }
    this.t = state.step;
  }

  /**
   * One parameter's moments under PyTorch's names (`exp_avg`, `exp_avg_sq`); the optimizer's own variables, valid
   * until the next step (do not dispose).
   *
   * @param name a parameter name
   * @example
   * ```ts
   * adam.stateTensors('latent').exp_avg_sq.shape; // the latent's shape
   * ```
   */
  stateTensors(name: string): Readonly<Record<string, tf.Tensor>> {
    const m = this.m.get(name);
    if (!m) throw new OptionError('name', `no parameter "${name}"`);
    return { exp_avg: m, exp_avg_sq: this.v.get(name)! };
  }

  /**
   * The state as an {@link OptimizerSnapshot} (buffers `m` and `v`).
   *
   * @example
   * ```ts
   * const s = adam.snapshot(); s.buffers['m']!.get('latent')!.shape;
   * ```
   */
  snapshot(): OptimizerSnapshot {
    const { step, m, v } = this.exportState();
    return { step, buffers: { m, v } };
  }

  /**
   * Restores an {@link OptimizerSnapshot} with buffers `m` and `v`.
   *
   * @param state the saved state
   * @throws OptionError when a buffer is missing or mis-shaped
   * @example
   * ```ts
   * adam.restore(saved);
   * ```
   */
  restore(state: OptimizerSnapshot): void {
    const { m, v } = state.buffers;
    if (!m || !v) throw new OptionError('optimizer state', 'Adam needs buffers m and v');
    this.restoreState({ step: state.step, m, v });
  }

  /**
   * Frees the moment buffers (not the parameters).
   *
   * @example
   * ```ts
   * adam.dispose();
   * ```
   */
  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}

/**
 * StyleCLIP's learning-rate schedule (`run_optimization.py` `get_lr`): cosine ramp-down over the last 25 % and a
 * linear warm-up over the first 5 % (the script's `--lr_rampup` is parsed but never passed; 0.05 is hard-coded).
 *
 * @param t        progress `step / total` in [0, 1]
 * @param initial  base learning rate (StyleCLIP: 0.1)
 * @param rampdown fraction of the ramp-down, default 0.25
 * @param rampup   fraction of the warm-up, default 0.05
 * @example
 * ```ts
 * styleClipLr(0, 0.1);   // 0
 * styleClipLr(0.5, 0.1); // 0.1
 * ```
 */
export function styleClipLr(t: number, initial: number, rampdown = 0.25, rampup = 0.05): number {
  const lrRamp = Math.min(1, (1 - t) / rampdown);
  const shaped = 0.5 - 0.5 * Math.cos(lrRamp * Math.PI);
  return initial * shaped * Math.min(1, t / rampup);
}
