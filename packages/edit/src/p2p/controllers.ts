/**
 * Prompt-to-Prompt's attention controllers (algorithms.md §1.2.3–§1.2.6) as hook-resolver factories: word swap
 * (`AttentionReplace`), refinement (`AttentionRefine`) and re-weighting (`AttentionReweight`, optionally chained
 * on another controller).
 *
 * A controller's hook edits only the batch rows whose role is `cond` with prompt index ≥ 1, using the `cond` row
 * of prompt 0 (the source) from the same call; `uncond` and `concept` rows pass unchanged. The step comes from
 * the hook context, never from counting calls, so the controller runs in any loop (CFG, SEGA, chunked attention).
 * In each step, cross-attention column n of edited prompt b becomes `R(base)·α[t, b, n] + (1 − α)·own`, and,
 * within the self-replace window, self-attention maps with at most `selfReplaceMaxQueries` queries are replaced
 * by the source's.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';
import type { ClipTokenizer } from '@semedit/core/clip';
import type { AttentionHook, AttentionHookResolver } from '@semedit/core/unet';
import { crossReplaceAlpha, selfReplaceWindow, type CrossReplaceSteps, type StepWindow } from './schedules.js';
import { refinementMapper } from './seq-aligner.js';
import { condRows } from './store.js';
import { equalizer, replacementMapper, type WordMode, type WordWeight } from './word-mappers.js';

/**
 * Options every controller takes.
 *
 * @example
 * ```ts
 * const o: ControllerOptions = { tokenizer, prompts: ['a cat', 'a dog'], numSteps: 50, crossReplaceSteps: { default_: 1, dog: 0.4 } };
 * ```
 */
export interface ControllerOptions {
  tokenizer: ClipTokenizer;
  /** The source prompt first, then the edited prompts (batch prompt indices 0, 1, ...). */
  prompts: readonly string[];
  /** Number of denoising steps T of the run the controller is used in. */
  numSteps: number;
  /** Cross-attention injection window(s) (default 0.8). */
  crossReplaceSteps?: CrossReplaceSteps;
  /** Self-attention injection window (default 0.4). */
  selfReplaceSteps?: StepWindow;
  /** Self-attention maps are replaced only for layers with at most this many queries (default 16² = 256, the stable notebook's cap; the null-text notebook uses 32²). */
  selfReplaceMaxQueries?: number;
  /** Word lookup mode (default `'reference'`). */
  wordMode?: WordMode;
}

/**
 * A Prompt-to-Prompt controller. Pass `hooks` to the UNet calls; `dispose()` frees its constant tensors.
 *
 * @example
 * ```ts
 * const c = attentionReplace({ tokenizer, prompts: ['a cat riding a bicycle', 'a dog riding a bicycle'], numSteps: 50 });
 * await runTextToImage(sd, { prompt: c.prompts, hooks: c.hooks, latents, numInferenceSteps: 50 });
 * c.dispose();
 * ```
 */
export interface P2PController {
  readonly kind: 'replace' | 'refine' | 'reweight';
  readonly prompts: readonly string[];
  readonly numSteps: number;
  /** Resolver for the UNet call. */
  readonly hooks: AttentionHookResolver;
  /** α `[T+1, B−1, K]` (`get_time_words_attention_alpha`). */
  readonly crossAlpha: { data: Float32Array; shape: [number, number, number] };
  /** Self-attention replacement steps `[start, end)`. */
  readonly selfWindow: [number, number];
  /**
   * The edit-specific map R of one edited prompt, before the α blend.
   *
   * @param base   the source's probabilities `[heads, queries, K]`
   * @param own    the edited prompt's own probabilities `[heads, queries, K]`
   * @param target edited prompt index − 1
   */
  replaceCross(base: tf.Tensor3D, own: tf.Tensor3D, target: number): tf.Tensor3D;
  dispose(): void;
}

type Replace = (base: tf.Tensor3D, own: tf.Tensor3D, target: number) => tf.Tensor3D;

function common(opts: ControllerOptions) {
  const { tokenizer, prompts, numSteps } = opts;
  if (!Array.isArray(prompts) || prompts.length < 2 || prompts.some((p) => typeof p !== 'string')) {
    throw new OptionError('prompts', 'Prompt-to-Prompt needs a source prompt and at least one edited prompt (strings)');
  }
  const maxQ = opts.selfReplaceMaxQueries ?? 16 * 16;
  if (!Number.isInteger(maxQ) || maxQ < 0) throw new OptionError('selfReplaceMaxQueries', `must be a non-negative integer, got ${maxQ}`);
  const crossAlpha = crossReplaceAlpha(tokenizer, prompts, numSteps, opts.crossReplaceSteps ?? 0.8, { wordMode: opts.wordMode });
  const selfWindow = selfReplaceWindow(numSteps, opts.selfReplaceSteps ?? 0.4);
  return { crossAlpha, selfWindow, maxQ, maxLen: tokenizer.modelMaxLength, edits: prompts.length - 1 };
}

function buildController(kind: P2PController['kind'], opts: ControllerOptions, replace: Replace, constants: tf.Tensor[]): P2PController {
  const { crossAlpha, selfWindow, maxQ, maxLen, edits } = common(opts);
  const hook: AttentionHook = (probs, ctx) => {
    const { index, prompts } = condRows(ctx);
    const sources = index.filter((_, i) => prompts[i] === 0);
    const targets = index.flatMap((row, i) => (prompts[i]! >= 1 ? [{ row, t: prompts[i]! - 1 }] : []));
    if (targets.length === 0) return probs;
    if (sources.length !== 1) throw new OptionError('rows', `Prompt-to-Prompt needs exactly one cond row of prompt 0 (the source) in the call, found ${sources.length} (layer ${ctx.layer})`);
    const bad = targets.find((x) => x.t >= edits);
    if (bad) throw new OptionError('rows', `row ${bad.row} is prompt ${bad.t + 1}, but the controller knows ${edits} edited prompt(s)`);
    if (!ctx.step) throw new OptionError('step', `Prompt-to-Prompt needs the step in the UNet call (layer ${ctx.layer})`);
    const { index: step, count } = ctx.step;
    if (count !== opts.numSteps) throw new OptionError('numSteps', `the controller was made for ${opts.numSteps} steps but the loop runs ${count}`);
    if (ctx.kind === 'self') {
      const queries = ctx.resolution.height * ctx.resolution.width;
      if (step < selfWindow[0] || step >= selfWindow[1] || queries > maxQ) return probs;
    } else if (probs.shape[3] !== maxLen) {
      throw new ShapeMismatchError(`cross-attention keys of ${ctx.layer}`, [null, null, null, maxLen], probs.shape);
    }
    const rows = tf.unstack(probs) as tf.Tensor3D[];
    const base = rows[sources[0]!]!;
    for (const { row, t } of targets) {
      if (ctx.kind === 'self') {
        rows[row] = base;
        continue;
      }
      const a = crossAlpha.data.subarray((step * edits + t) * maxLen, (step * edits + t + 1) * maxLen);
      if (a.every((v) => v === 0)) continue; // R·0 + 1·own = own exactly
      const own = rows[row]!;
      const r = replace(base, own, t);
      rows[row] = a.every((v) => v === 1) ? r : (tf.add(tf.mul(r, tf.tensor1d(a)), tf.mul(tf.sub(1, tf.tensor1d(a)), own)) as tf.Tensor3D);
    }
    return tf.stack(rows) as tf.Tensor4D;
  };
  const hooks: AttentionHookResolver = () => hook;
  return {
    kind, prompts: [...opts.prompts], numSteps: opts.numSteps, hooks, crossAlpha, selfWindow, replaceCross: replace,
    dispose: () => tf.dispose(constants),
  };
}

/**
 * Options of {@link attentionReplace}.
 *
 * @example
 * ```ts
 * const o: ReplaceOptions = { tokenizer, prompts: ['a cat', 'a dog'], numSteps: 50, mapper: 'reference' };
 * ```
 */
export interface ReplaceOptions extends ControllerOptions {
  /** `'corrected'` (default) or `'reference'` (the reference's quirk, for parity); see {@link replacementMapper}. */
  mapper?: 'corrected' | 'reference';
}

/**
 * Word swap (`AttentionReplace`): edited prompts have the source's word count; their cross-attention is the
 * source's mapped through the replacement matrix, `R = einsum('hpw,wn->hpn', base, M_b)`.
 *
 * @param opts prompts, tokenizer, steps, windows, mapper mode
 * @returns the controller; `mappers[b]` is M_b `[K·K]` row-major
 * @example
 * ```ts
 * const c = attentionReplace({ tokenizer, prompts: ['a cat riding a bicycle', 'a dog riding a bicycle'], numSteps: 50, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 });
 * ```
 */
export function attentionReplace(opts: ReplaceOptions): P2PController & { mappers: Float32Array[] } {
  const k = opts.tokenizer.modelMaxLength;
  const mappers = opts.prompts.slice(1).map((p) => replacementMapper(opts.tokenizer, opts.prompts[0]!, p, { mode: opts.mapper ?? 'corrected' }));
  const m = mappers.map((d) => tf.keep(tf.tensor2d(d, [k, k])));
  const replace: Replace = (base, _own, t) => {
    const [h, q] = base.shape;
    return tf.reshape(tf.matMul(tf.reshape(base, [h * q, k]), m[t]!), [h, q, k]);
  };
  return { ...buildController('replace', opts, replace, m), mappers };
}

/**
 * Refinement (`AttentionRefine`): tokens the target shares with the source (by global alignment) take the
 * source's column, new tokens keep their own: `R = base[:, :, mapper]·alphas + own·(1 − alphas)`.
 *
 * @param opts prompts, tokenizer, steps, windows
 * @returns the controller; `mappers[b]` (−1 = new token) and `alphas[b]` per edited prompt
 * @example
 * ```ts
 * const c = attentionRefine({ tokenizer, prompts: ['a cake with decorations', 'a cake with jelly beans decorations'], numSteps: 50 });
 * ```
 */
export function attentionRefine(opts: ControllerOptions): P2PController & { mappers: Int32Array[]; alphas: Float32Array[] } {
  const k = opts.tokenizer.modelMaxLength;
  const maps = opts.prompts.slice(1).map((p) => refinementMapper(opts.tokenizer, opts.prompts[0]!, p, k));
  // torch's attn_base[:, :, -1] gathers the last column; it is masked by alpha 0.
  const index = maps.map((m) => tf.keep(tf.tensor1d(Int32Array.from(m.mapper, (v) => (v < 0 ? k + v : v)), 'int32')));
  const alpha = maps.map((m) => tf.keep(tf.tensor1d(m.alphas)));
  const replace: Replace = (base, own, t) => {
    const a = alpha[t]!;
    return tf.add(tf.mul(tf.gather(base, index[t]!, 2), a), tf.mul(own, tf.sub(1, a))) as tf.Tensor3D;
  };
  return { ...buildController('refine', opts, replace, [...index, ...alpha]), mappers: maps.map((m) => m.mapper), alphas: maps.map((m) => m.alphas) };
}

/**
 * Options of {@link attentionReweight}.
 *
 * @example
 * ```ts
 * const o: ReweightOptions = { tokenizer, prompts: [p, p], numSteps: 50, weights: { smiling: 5 } };
 * ```
 */
export interface ReweightOptions extends ControllerOptions {
  /** Words of the edited prompts and their factors (`[word, weight]` pairs or a record). */
  weights: readonly WordWeight[] | Readonly<Record<string, number>>;
  /** Largest |weight| accepted (default 10). */
  maxAbsWeight?: number;
  /** A controller whose cross-attention map R is re-weighted (e.g. a refine), instead of the source's map. */
  prev?: P2PController;
}

/**
 * Re-weighting (`AttentionReweight`): the (optionally `prev`-mapped) source attention times the equalizer,
 * `R = (prev ? prev.R(base, own) : base) · eq_b`; no renormalization.
 *
 * @param opts prompts, tokenizer, steps, windows, weights, previous controller
 * @returns the controller; `equalizers[b]` per edited prompt
 * @example
 * ```ts
 * const c = attentionReweight({ tokenizer, prompts: ['a smiling bunny doll', 'a smiling bunny doll'], numSteps: 50, weights: { smiling: 5 } });
 * ```
 */
export function attentionReweight(opts: ReweightOptions): P2PController & { equalizers: Float32Array[] } {
  const { prev } = opts;
  if (prev && (prev.prompts.length !== opts.prompts.length || prev.prompts.some((p, i) => p !== opts.prompts[i]))) {
    throw new OptionError('prev', 'the chained controller must be made for the same prompts');
  }
  const equalizers = opts.prompts.slice(1).map((p) => equalizer(opts.tokenizer, p, opts.weights, {
    maxAbsWeight: opts.maxAbsWeight, wordMode: opts.wordMode,
  }));
  const eq = equalizers.map((e) => tf.keep(tf.tensor1d(e)));
  const replace: Replace = (base, own, t) => tf.mul(prev ? prev.replaceCross(base, own, t) : base, eq[t]!) as tf.Tensor3D;
  return { ...buildController('reweight', opts, replace, eq), equalizers };
}
