/**
 * SEGA as a denoiser wrapper (style.md 3.3): it wraps a conditional denoiser (the UNet, with any attention hooks
 * added by `withHooks`) and returns a denoiser; each step makes ONE batched call with rows
 * `[uncond × B, cond × B, concept₀ × B, …, concept_{C−1} × B]` (diffusers' order), tells attention hooks each row's
 * role (`uncond` / `cond` / `concept` with its index), and combines the predictions with {@link segaGuidance}.
 * Concept rows can be evaluated in chunks to bound memory; the result is the same.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';
import type { Conditioning, Denoiser, NoiseModel } from '@semedit/core/pipeline';
import type { RowRole, StepInfo } from '@semedit/core/unet';
import { resolveSegaParams, type SegaEditParams } from './concepts.js';
import { disposeSegaState, initSegaState, segaGuidance, type SegaPhase, type SegaState } from './sega.js';

/**
 * What to do when `scale <= 1`: diffusers then runs no unconditional branch and silently skips every edit.
 * `error` (default) throws an `OptionError`; `skip-edits` does what diffusers does and reports it
 * (`editsSkipped`).
 */
export type LowGuidancePolicy = 'error' | 'skip-edits';

/** Options of {@link segaDenoiser}. */
export interface SegaDenoiserOptions {
  /** Prompt embeddings `[B, T, D]` (row b conditions latent b). */
  cond: tf.Tensor3D;
  /** Negative (or empty) prompt embeddings, `[B, T, D]` or `[1, T, D]` for all. */
  uncond: tf.Tensor3D;
  /** One embedding per concept, each `[1, T, D]` (repeated over the batch, as diffusers) or `[B, T, D]`. */
  concepts: readonly tf.Tensor3D[];
  /** Classifier-free guidance scale s_g. */
  scale: number;
  /** Per-concept settings (same order and count as `concepts`) and momentum. */
  edit: SegaEditParams;
  /** Which prompt each latent row belongs to (default: row b is prompt b). */
  prompts?: readonly number[];
  /** Concepts per model call (default: all in the one call). Smaller bounds memory; the result is the same. */
  conceptChunk?: number;
  /** Keep each step's semantic guidance term (diffusers' `sem_guidance`), default true. */
  recordGuidance?: boolean;
  /** Recorded guidance to add at step i: one `[B, H, W, C]` per step, or `[steps, B, H, W, C]`. Not disposed. */
  replayGuidance?: readonly tf.Tensor4D[] | tf.Tensor;
  /** Behaviour at `scale <= 1` (default `error`). */
  lowGuidance?: LowGuidancePolicy;
}

/** A {@link Denoiser} that carries SEGA's state; `dispose()` frees the momentum and the recorded guidance. */
export interface SegaDenoiser extends Denoiser {
  /** Current state (momentum). */
  readonly state: SegaState;
  /** Recorded guidance per step index (`[B, H, W, C]` each, owned by the denoiser until taken). */
  readonly recorded: readonly (tf.Tensor4D | undefined)[];
  /** The phase of each evaluated step index. */
  readonly phases: readonly SegaPhase[];
  /** True when `scale <= 1` made it skip the edits (policy `skip-edits`). */
  readonly editsSkipped: boolean;
  /** Hands the recorded guidance to the caller (who must dispose it) and forgets it. */
  takeRecorded(): tf.Tensor4D[];
  /** Frees the state and any recorded guidance not taken. */
  dispose(): void;
}

function tileTo(t: tf.Tensor3D, b: number): tf.Tensor3D {
  return t.shape[0] === b ? t : tf.tile(t, [b, 1, 1]);
}

function replayAt(r: SegaDenoiserOptions['replayGuidance'], i: number): tf.Tensor4D | undefined {
  if (!r) return undefined;
  if (r instanceof tf.Tensor) {
    if (r.rank !== 5) throw new ShapeMismatchError('replayGuidance', [null, null, null, null, null], r.shape);
    if (i >= r.shape[0]!) throw new OptionError('replayGuidance', `has ${r.shape[0]} steps; step ${i} has none`);
    const [, ...rest] = r.shape;
    return tf.reshape(tf.slice(r, [i, 0, 0, 0, 0], [1, ...rest]), rest as [number, number, number, number]);
  }
  const t = r[i];
  if (!t) throw new OptionError('replayGuidance', `has ${r.length} steps; step ${i} has none`);
  return t;
}

/**
 * Wraps a conditional denoiser into a SEGA denoiser: one call per step (or one per concept chunk) with roles for
 * every row, then {@link segaGuidance} with the momentum carried from step to step (advanced once per
 * `step.index`).
 *
 * @param model the conditional denoiser (`unetDenoiser(unet)`, `withHooks(...)` of it, or a toy in tests)
 * @param opts  embeddings, CFG scale, edit settings, hooks, chunking, recording and replay
 * @example
 * ```ts
 * const denoise = segaDenoiser(unetDenoiser(unet), { cond, uncond, concepts: [smile], scale: 7.5, edit: { concepts: [{ warmup: 5 }] } });
 * const final = await runLoop(sampleLoop(denoise, scheduler, { latents, numInferenceSteps: 50 }));
 * const guidance = denoise.takeRecorded(); // 50 × [1, 64, 64, 4]
 * denoise.dispose();
 * ```
 */
export function segaDenoiser(model: NoiseModel, opts: SegaDenoiserOptions): SegaDenoiser {
  const params = resolveSegaParams({ guidanceScale: opts.scale, ...opts.edit });
  const C = opts.concepts.length;
  if (params.concepts.length !== C) throw new OptionError('edit.concepts', `has ${params.concepts.length} settings for ${C} concept embeddings`);
  const [b, tLen, dim] = opts.cond.shape;
  if (opts.uncond.shape[0] !== b && opts.uncond.shape[0] !== 1) throw new ShapeMismatchError('uncond', [b, tLen, dim], opts.uncond.shape);
  opts.concepts.forEach((e, c) => {
    if ((e.shape[0] !== 1 && e.shape[0] !== b) || e.shape[2] !== dim) throw new ShapeMismatchError(`concepts[${c}]`, [b, null, dim], e.shape);
    if (e.shape[1] !== tLen) throw new ShapeMismatchError(`concepts[${c}]`, [b, tLen, dim], e.shape);
  });
  const chunk = opts.conceptChunk ?? Math.max(C, 1);
  if (!Number.isInteger(chunk) || chunk < 1) throw new OptionError('conceptChunk', `must be a positive integer, got ${opts.conceptChunk}`);
  const guided = params.guidanceScale > 1;
  const policy = opts.lowGuidance ?? 'error';
  if (!guided && policy === 'error' && C > 0) {
    throw new OptionError('guidanceScale', `SEGA needs classifier-free guidance (> 1), got ${params.guidanceScale}; diffusers silently skips every edit there (lowGuidance: 'skip-edits' does the same, reported)`);
  }
  if (policy !== 'error' && policy !== 'skip-edits') throw new OptionError('lowGuidance', `must be 'error' or 'skip-edits', got ${String(policy)}`);
  const prompts = opts.prompts ?? Array.from({ length: b }, (_, i) => i);
  if (prompts.length !== b) throw new OptionError('prompts', `has ${prompts.length} entries for ${b} latent rows`);
  const roles = (role: RowRole['role'], concept?: number): RowRole[] =>
    prompts.map((p) => (concept === undefined ? { role, prompt: p } : { role, prompt: p, concept }));
  const record = opts.recordGuidance ?? true;
  // SEGA's momentum advances once per sampler step, not per model call: a sampler that evaluates the model twice
  // in one step (Heun) guides both calls from the state the step started with, and the last call's state stands.
  let state = initSegaState();
  let stepStart = state;
  let current = -1;
  let recorded: (tf.Tensor4D | undefined)[] = [];
  const phases: SegaPhase[] = [];

  const call = (embeddings: tf.Tensor3D, rows: RowRole[]): Conditioning => ({ embeddings, rows });
  const denoise = ((x: tf.Tensor4D, step: StepInfo): tf.Tensor4D => {
    if (x.shape[0] !== b) throw new ShapeMismatchError('latents', [b, null, null, null], x.shape);
    if (!guided) {
      // diffusers: no CFG branch, no edits (reported through `editsSkipped`); a replay cannot apply either.
      return tf.tidy(() => model(x, step, call(opts.cond, roles('cond'))));
    }
    return tf.tidy(() => {
      const replay = replayAt(opts.replayGuidance, step.index);
      // Calls: [uncond, cond, concepts 0..chunk-1], then [concepts chunk..2·chunk-1], …
      const outs: tf.Tensor4D[] = [];
      for (let start = 0; start === 0 || start < C; start += chunk) {
        const ids = Array.from({ length: Math.max(0, Math.min(chunk, C - start)) }, (_, k) => start + k);
        const ehs = [...(start === 0 ? [tileTo(opts.uncond, b), opts.cond] : []), ...ids.map((c) => tileTo(opts.concepts[c]!, b))];
        const rows = [...(start === 0 ? [...roles('uncond'), ...roles('cond')] : []), ...ids.flatMap((c) => roles('concept', c))];
        const xs = tf.concat(Array.from({ length: ehs.length }, () => x));
        outs.push(model(xs, step, call(tf.concat(ehs), rows)));
      }
      const eps = outs.length === 1 ? outs[0]! : tf.concat(outs);
      const parts = tf.split(eps, 2 + C) as tf.Tensor4D[];
      if (step.index !== current) {
        if (stepStart !== state) disposeSegaState(stepStart);
        stepStart = state;
        current = step.index;
      }
      const r = segaGuidance(parts[0]!, parts[1]!, parts.slice(2), stepStart, params, step, replay ? { replay } : {});
      if (state !== stepStart) disposeSegaState(state);
      state = r.state;
      phases[step.index] = r.phase;
      if (record) {
        recorded[step.index]?.dispose();
        recorded[step.index] = tf.keep(r.semGuidance);
      }
      return r.eps;
    });
  }) as SegaDenoiser;
  Object.defineProperties(denoise, {
    state: { get: () => state },
    recorded: { get: () => recorded },
    phases: { get: () => phases },
    editsSkipped: { get: () => !guided && C > 0 },
  });
  denoise.takeRecorded = () => {
    const out = recorded.map((t, i) => {
      if (!t) throw new OptionError('recordGuidance', `step ${i} was not evaluated`);
      return t;
    });
    recorded = [];
    return out;
  };
  denoise.dispose = () => {
    if (stepStart !== state) disposeSegaState(stepStart);
    disposeSegaState(state);
    state = initSegaState();
    stepStart = state;
    current = -1;
    tf.dispose(recorded.filter((t): t is tf.Tensor4D => t !== undefined));
    recorded = [];
  };
  return denoise;
}
