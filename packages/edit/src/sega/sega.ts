/**
 * SEGA's guidance function (Brack et al., "SEGA: Instructing Text-to-Image Models using Semantic Guidance",
 * arXiv 2301.12247), exactly as diffusers' `SemanticStableDiffusionPipeline` (v0.25) computes it: a pure function
 * of the noise predictions and an explicit momentum state, so it composes with CFG and attention control.
 *
 * Symbols: ε_u, ε_p, ε_c the unconditional (or negative-prompt), prompt and concept-c predictions; s_g the CFG
 * scale; per concept s_e (scale), λ (threshold), δ (warm-up), g (weight); s_m, β_m momentum scale and decay.
 *
 * Reference quirks kept (algorithms.md §1.1.2), each marked `QUIRK` below:
 * - ψ_c = ε_c − ε_u is taken relative to the *unconditional* estimate, scaled before the quantile;
 * - the threshold is a quantile per sample and per latent channel over the spatial positions;
 * - while some but not all concepts are warmed up, the warmed-up ones are added with weights renormalised to
 *   sum 1 and no momentum; once all are, they are *summed* with the raw weights plus momentum;
 * - momentum accumulates from step 0, also during warm-up, from the momentum-augmented term;
 * - negative weights are clamped to 0 (they disable a concept rather than reverse it);
 * - a cooled-down concept contributes 0 with weight 0 but still counts as warmed up.
 * Defined here where the reference is not: when every warmed-up concept in the partial phase has weight 0 (all
 * cooled down, or weights ≤ 0) diffusers divides 0/0 and the latents become NaN; we add nothing instead.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';
import type { StepInfo } from '@semedit/core/unet';
import { resolveSegaParams, type ResolvedSegaParams, type SegaParams } from './concepts.js';
import { quantile } from './quantile.js';

/**
 * The state SEGA carries between steps: the momentum ν `[B, H, W, C]` (absent before the first step). Its tensor
 * is `tf.keep`-ed; free it with {@link disposeSegaState} once the next state replaces it.
 *
 * @example
 * ```ts
 * let state: SegaState = initSegaState();
 * ```
 */
export interface SegaState {
  readonly momentum: tf.Tensor4D | undefined;
}

/**
 * The state before the first step (zero momentum).
 *
 * @example
 * ```ts
 * const s = initSegaState(); // { momentum: undefined }
 * ```
 */
export function initSegaState(): SegaState {
  return { momentum: undefined };
}

/**
 * Frees a state's tensors.
 *
 * @example
 * ```ts
 * disposeSegaState(old);
 * ```
 */
export function disposeSegaState(state: SegaState): void {
  state.momentum?.dispose();
}

/** Which concepts a step applied: none yet, the warmed-up subset (renormalised), or all (with momentum). */
export type SegaPhase = 'none' | 'partial' | 'full';

/** What {@link segaGuidance} returns for one step. */
export interface SegaStepResult {
  /** The guided noise prediction ε̂ = ε_u + s_g (ε_p − ε_u) + semantic guidance (+ replay) `[B, H, W, C]`. */
  eps: tf.Tensor4D;
  /** The semantic guidance term added this step (diffusers' `sem_guidance[i]`; zeros in phase `none`). */
  semGuidance: tf.Tensor4D;
  /** The next state (momentum `tf.keep`-ed; the input state is left untouched). */
  state: SegaState;
  /** Which concepts were applied. */
  phase: SegaPhase;
  /** Indices of the concepts past their warm-up at this step. */
  warmedUp: number[];
}

/** Options of {@link segaGuidance}. */
export interface SegaGuidanceOptions {
  /** A recorded guidance term for this step `[B, H, W, C]`, added last (diffusers' `sem_guidance[i]` argument). */
  replay?: tf.Tensor4D;
}

/**
 * The thresholded, scaled guidance of one concept: ψ = ±s_e (ε_c − ε_u), zeroed where |ψ| is below its
 * λ-quantile over the spatial positions of each sample and channel (ties kept).
 *
 * @param epsConcept ε_c `[B, H, W, C]`
 * @param epsUncond  ε_u `[B, H, W, C]`
 * @param c          scale, threshold, direction
 * @example
 * ```ts
 * const psi = conceptGuidance(ec, eu, { scale: 6, threshold: 0.9, reverse: false }); // [B, H, W, C]
 * ```
 */
export function conceptGuidance(epsConcept: tf.Tensor4D, epsUncond: tf.Tensor4D, c: { scale: number; threshold: number; reverse: boolean }): tf.Tensor4D {
  return tf.tidy(() => {
    let psi = tf.sub(epsConcept, epsUncond); // QUIRK: relative to ε_u, not ε_p
    if (c.reverse) psi = tf.neg(psi);
    psi = tf.mul(psi, c.scale); // scaled before the quantile, as the reference (same mask, same rounding)
    const abs = tf.abs(psi);
    const q = quantile(abs, c.threshold, [1, 2], true); // [B, 1, 1, C]: per sample and channel
    return tf.where(tf.greaterEqual(abs, q), psi, tf.zerosLike(psi)) as tf.Tensor4D;
  });
}

/** Σ_c w_c · x_c in index order (the reference's `einsum('cb,cbijk->bijk')`), skipping zero weights' work. */
function weightedSum(xs: readonly tf.Tensor4D[], ws: readonly number[], like: tf.Tensor4D): tf.Tensor4D {
  let acc: tf.Tensor4D | undefined;
  xs.forEach((x, i) => {
    const term = tf.mul(x, ws[i]!) as tf.Tensor4D;
    acc = acc ? (tf.add(acc, term) as tf.Tensor4D) : term;
  });
  return acc ?? tf.zerosLike(like);
}

function stepIndexOf(step: number | StepInfo): number {
  const i = typeof step === 'number' ? step : step.index;
  if (!Number.isInteger(i) || i < 0) throw new OptionError('step', `must be a non-negative integer step index, got ${i}`);
  return i;
}

/**
 * One step of SEGA over noise predictions: classifier-free guidance plus the semantic guidance of every concept,
 * with momentum carried in an explicit state. Pure: inputs and the input state are not modified.
 *
 * @param epsUncond   ε_u, unconditional (or negative-prompt) prediction `[B, H, W, C]`
 * @param epsCond     ε_p, prompt prediction `[B, H, W, C]`
 * @param epsConcepts ε_c per concept, each `[B, H, W, C]`, in the order of `params.concepts`
 * @param state       the previous state ({@link initSegaState} at step 0)
 * @param params      CFG scale, concepts, momentum (resolved or not)
 * @param step        the 0-based step index (or the loop's step info)
 * @param opts        `replay`: a recorded guidance term to add
 * @example
 * ```ts
 * let state = initSegaState();
 * const r = segaGuidance(eu, ep, [ec0, ec1], state, { guidanceScale: 7.5, concepts: [{}, { reverse: true }] }, 0);
 * disposeSegaState(state);
 * state = r.state; // r.eps: [B, H, W, C]
 * ```
 */
export function segaGuidance(
  epsUncond: tf.Tensor4D, epsCond: tf.Tensor4D, epsConcepts: readonly tf.Tensor4D[], state: SegaState,
  params: SegaParams | ResolvedSegaParams, step: number | StepInfo, opts: SegaGuidanceOptions = {},
): SegaStepResult {
  const p = resolveSegaParams(params);
  const i = stepIndexOf(step);
  const C = p.concepts.length;
  if (epsConcepts.length !== C) throw new OptionError('epsConcepts', `has ${epsConcepts.length} predictions for ${C} concepts`);
  for (const [name, t] of [['epsCond', epsCond], ...epsConcepts.map((t, c) => [`epsConcepts[${c}]`, t] as const), ['replay', opts.replay]] as const) {
    if (t && t.shape.some((d, k) => d !== epsUncond.shape[k])) throw new ShapeMismatchError(name, epsUncond.shape, t.shape);
  }
  if (state.momentum && state.momentum.shape.some((d, k) => d !== epsUncond.shape[k])) {
    throw new ShapeMismatchError('state.momentum', epsUncond.shape, state.momentum.shape);
  }
  const warmedUp = p.concepts.flatMap((c, k) => (i >= c.warmup ? [k] : []));
  const phase: SegaPhase = C === 0 || warmedUp.length === 0 ? 'none' : warmedUp.length < C ? 'partial' : 'full';
  let momentum: tf.Tensor4D | undefined;
  const out = tf.tidy(() => {
    // 1. CFG term G = s_g (ε_p − ε_u).
    let g = tf.mul(tf.sub(epsCond, epsUncond), p.guidanceScale) as tf.Tensor4D;
    let sem: tf.Tensor4D | undefined;
    if (C > 0) {
      // 2. Per concept: thresholded ψ_c, or 0 with weight 0 once cooled down (QUIRK: still counts as warmed up).
      const psi = p.concepts.map((c, k) => (i >= c.cooldown ? tf.zerosLike(epsUncond) : conceptGuidance(epsConcepts[k]!, epsUncond, c)));
      const w = p.concepts.map((c) => (i >= c.cooldown ? 0 : Math.max(0, Math.fround(c.weight)))); // QUIRK: clamped at 0
      // 3. Partial warm-up: warmed-up concepts with weights renormalised to sum 1, no momentum (QUIRK).
      if (phase === 'partial') {
        let total = 0;
        for (const k of warmedUp) total = Math.fround(total + w[k]!);
        // Defined behaviour: the reference computes 0/0 = NaN here; a zero total adds nothing.
        const norm = warmedUp.map((k) => (total > 0 ? Math.fround(w[k]! / total) : 0));
        sem = weightedSum(warmedUp.map((k) => psi[k]!), norm, epsUncond);
        g = tf.add(g, sem);
      }
      // 4. Always: E = Σ g_c ψ_c (raw weights) + s_m ν; ν ← β_m ν + (1 − β_m) E (QUIRK: also during warm-up).
      let e = weightedSum(psi, w, epsUncond);
      if (state.momentum) e = tf.add(e, tf.mul(state.momentum, p.momentumScale));
      const next = state.momentum ? tf.add(tf.mul(state.momentum, p.momBeta), tf.mul(e, 1 - p.momBeta)) : tf.mul(e, 1 - p.momBeta);
      momentum = tf.keep(next as tf.Tensor4D);
      if (phase === 'full') {
        g = tf.add(g, e);
        sem = e;
      }
    }
    // 5. Replayed guidance, then ε̂ = ε_u + G.
    if (opts.replay) g = tf.add(g, opts.replay);
    return { eps: tf.add(epsUncond, g) as tf.Tensor4D, semGuidance: sem ?? tf.zerosLike(epsUncond) };
  });
  return { ...out, state: { momentum }, phase, warmedUp };
}
