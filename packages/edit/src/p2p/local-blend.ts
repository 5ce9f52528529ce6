/**
 * LocalBlend (algorithms.md §1.2.8): after each scheduler step, edited latents outside a mask are reset to the
 * source's, `x_b ← x_0 + mask_b·(x_b − x_0)`. The mask comes from the stored cross-attention of the blend words:
 * Σ over their token columns → mean over heads and layers → 3×3 max-pool → nearest resize to the latent →
 * ÷ per-image max → `> threshold`, and the source's mask is OR-ed into each edited prompt's.
 *
 * Two versions: `'original'` (stable notebook, diffusers community pipeline: threshold 0.3, from the first step)
 * and `'later'` (null-text notebook: `substructWords` removed from the mask with a second, un-pooled threshold;
 * blending only after `startBlend`·T steps). Layers: `'auto'` takes the cross-attention layers (down and up, not
 * mid) of the deepest level with attention, derived from the UNet config and latent size (for SD 1.x at 64×64
 * latents the same five 16×16 layers as the reference); `'reference'` takes `down_cross[2:4] + up_cross[:3]` of
 * the store, exactly as the reference lists them.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import type { ClipTokenizer } from '@semedit/core/clip';
import type { StepEvent } from '@semedit/core/pipeline';
import { listAttentionLayers, type ResolvedUNetConfig, type UNet2DConditionConfig } from '@semedit/core/unet';
import type { AttentionStore } from './store.js';
import { wordTokens, type WordMode } from './word-mappers.js';

/**
 * Words per prompt: entry b holds the word(s) of prompt b (source first).
 *
 * @example
 * ```ts
 * const w: WordsPerPrompt = [['cat'], ['tiger', 'stripes']];
 * ```
 */
export type WordsPerPrompt = readonly (string | readonly string[])[];

/**
 * Options of {@link localBlend}.
 *
 * @example
 * ```ts
 * const o: LocalBlendOptions = { tokenizer, prompts, words: ['cat', 'dog'], store, version: 'later', threshold: [0.3, 0.3], substructWords: ['', 'collar'] };
 * ```
 */
export interface LocalBlendOptions {
  tokenizer: ClipTokenizer;
  /** Source prompt first, then the edited prompts. */
  prompts: readonly string[];
  /** Blend words of each prompt (e.g. `['cat', 'dog']`). */
  words: WordsPerPrompt;
  /** The store the UNet calls fill (it must keep the chosen layers). */
  store: AttentionStore;
  /** `'original'` (default) or `'later'`; sets the defaults below and allows `substructWords`. */
  version?: 'original' | 'later';
  /** Threshold(s): original one number (default 0.3); later `[blend, substruct]` (default [0.3, 0.3]). */
  threshold?: number | readonly [number, number];
  /** Later version: words whose (un-pooled) mask is removed from the blend mask. */
  substructWords?: WordsPerPrompt;
  /** Later version: blend only at steps i with i + 1 > int(startBlend·T) (default 0.2; original 0). */
  startBlend?: number;
  /** `'auto'` (default, needs `unetConfig`), `'reference'`, or explicit module paths of cross-attention layers. */
  layers?: 'auto' | 'reference' | readonly string[];
  /** The UNet config, for `layers: 'auto'`. */
  unetConfig?: UNet2DConditionConfig | ResolvedUNetConfig;
  /** Word lookup mode (default `'reference'`). */
  wordMode?: WordMode;
}

/**
 * A LocalBlend step callback. `mask()` returns the last mask `[B, h, w, 1]` (1 = edited latents kept; caller owns).
 *
 * @example
 * ```ts
 * const lb = localBlend({ tokenizer, prompts, words: ['cat', 'dog'], store, unetConfig: sd.unet.config });
 * await runTextToImage(sd, { prompt: prompts, hooks, onStepEnd: lb.onStepEnd, latents });
 * ```
 */
export interface LocalBlend {
  /** For the sampling loop's `onStepEnd`: returns the blended latents, or nothing before `startBlend`. */
  onStepEnd(ev: StepEvent): tf.Tensor4D | undefined;
  /** Token selector `[B, K]` of the blend words (the reference's `alpha_layers`). */
  readonly alphaLayers: Float32Array;
  /** Token selector of the substruct words, when given. */
  readonly substructLayers: Float32Array | undefined;
  /** The last mask applied, or undefined before the first blend. */
  mask(): tf.Tensor4D | undefined;
  dispose(): void;
}

/**
 * The cross-attention layers `'auto'` LocalBlend uses: down and up layers of the deepest UNet level that has
 * attention (the mid block excluded).
 *
 * @param config the UNet config
 * @param latent latent size
 * @example
 * ```ts
 * localBlendLayers(sd15, { height: 64, width: 64 }); // down_blocks.2.attentions.{0,1}…attn2, up_blocks.1.attentions.{0,1,2}…attn2
 * ```
 */
export function localBlendLayers(config: UNet2DConditionConfig | ResolvedUNetConfig, latent: { height: number; width: number }): string[] {
  const cross = listAttentionLayers(config, latent).filter((l) => l.kind === 'cross' && l.place !== 'mid');
  if (cross.length === 0) throw new OptionError('layers', 'the UNet has no cross-attention outside the mid block');
  const deepest = Math.max(...cross.map((l) => l.downscale));
  return cross.filter((l) => l.downscale === deepest).map((l) => l.layer);
}

function selector(tokenizer: ClipTokenizer, prompts: readonly string[], words: WordsPerPrompt, name: string, mode: WordMode | undefined): Float32Array {
  if (!Array.isArray(words) || words.length !== prompts.length) {
    throw new OptionError(name, `needs one entry (a word or list of words) per prompt: ${prompts.length}, got ${Array.isArray(words) ? words.length : typeof words}`);
  }
  const k = tokenizer.modelMaxLength;
  const out = new Float32Array(prompts.length * k);
  words.forEach((w, b) => {
    for (const word of typeof w === 'string' ? [w] : w) for (const i of wordTokens(tokenizer, prompts[b]!, word, mode)) out[b * k + i] = 1;
  });
  return out;
}

function checkThreshold(v: number, name: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new OptionError(name, `must be in [0, 1], got ${String(v)}`);
  return v;
}

/**
 * Creates a LocalBlend step callback (see the module comment).
 *
 * @param opts prompts, words, store, version, thresholds, layers
 * @throws PromptEditError for a word not in its prompt; OptionError for bad thresholds or layers
 * @example
 * ```ts
 * const lb = localBlend({ tokenizer, prompts: ['a cat riding a bicycle', 'a dog riding a bicycle'], words: ['cat', 'dog'], store, layers: 'reference', threshold: 0.9 });
 * ```
 */
export function localBlend(opts: LocalBlendOptions): LocalBlend {
  const version = opts.version ?? 'original';
  if (version !== 'original' && version !== 'later') throw new OptionError('version', `must be 'original' or 'later', got ${String(version)}`);
  if (version === 'original' && opts.substructWords) throw new OptionError('substructWords', "needs version 'later'");
  const th = opts.threshold ?? (version === 'original' ? 0.3 : [0.3, 0.3]);
  const [thBlend, thSub] = typeof th === 'number' ? [th, th] : th;
  checkThreshold(thBlend, 'threshold');
  checkThreshold(thSub, 'threshold[1]');
  const startBlend = opts.startBlend ?? (version === 'original' ? 0 : 0.2);
  if (!(startBlend >= 0 && startBlend <= 1)) throw new OptionError('startBlend', `must be in [0, 1], got ${startBlend}`);
  const layersOpt = opts.layers ?? 'auto';
  if (layersOpt === 'auto' && !opts.unetConfig) throw new OptionError('unetConfig', "layers 'auto' needs the UNet config (or give layers 'reference' or a list)");
  const b = opts.prompts.length;
  const k = opts.tokenizer.modelMaxLength;
  const alphaLayers = selector(opts.tokenizer, opts.prompts, opts.words, 'words', opts.wordMode);
  const substructLayers = opts.substructWords ? selector(opts.tokenizer, opts.prompts, opts.substructWords, 'substructWords', opts.wordMode) : undefined;
  let last: tf.Tensor4D | undefined;

  const pickLayers = (latent: { height: number; width: number }): string[] => {
    if (layersOpt === 'reference') {
      const keys = opts.store.byKey();
      return [...keys['down_cross']!.slice(2, 4), ...keys['up_cross']!.slice(0, 3)];
    }
    return layersOpt === 'auto' ? localBlendLayers(opts.unetConfig!, latent) : [...layersOpt];
  };

  const maskOf = (maps: tf.Tensor5D, sel: Float32Array, pool: boolean, threshold: number, size: [number, number]): tf.Tensor4D => {
    const alpha = tf.tensor(sel, [b, 1, 1, 1, k]);
    let m = tf.expandDims(tf.mean(tf.sum(tf.mul(maps, alpha), -1), 1), -1) as tf.Tensor4D; // [B, H, W, 1]
    if (pool) m = tf.maxPool(m, 3, 1, 'same');
    m = tf.image.resizeNearestNeighbor(m, size, false, false);
    m = tf.div(m, tf.max(m, [1, 2], true));
    const bin = tf.greater(m, threshold);
    return tf.logicalOr(tf.slice(bin, [0, 0, 0, 0], [1, -1, -1, -1]), bin) as tf.Tensor4D; // mask[:1] + mask
  };

  const onStepEnd = (ev: StepEvent): tf.Tensor4D | undefined => {
    if (ev.index + 1 <= Math.trunc(startBlend * ev.count)) return undefined;
    const [batch, h, w] = ev.latents.shape;
    if (batch !== b) throw new OptionError('prompts', `LocalBlend was made for ${b} prompts but the latents have ${batch} rows`);
    const names = pickLayers({ height: h, width: w });
    if (names.length === 0) throw new OptionError('layers', 'LocalBlend selected no layers (the reference picks down_cross[2:4] + up_cross[:3] of the store)');
    const infos = opts.store.layers();
    const res = names.map((n) => {
      const info = infos.find((l) => l.layer === n);
      if (!info) throw new OptionError('store', `LocalBlend needs ${n}, which the store did not keep (raise its maxQueries or widen its filter)`);
      if (info.kind !== 'cross') throw new OptionError('layers', `${n} is not a cross-attention layer`);
      if (info.prompts.length !== b || info.prompts.some((p, i) => p !== i)) throw new OptionError('store', `the store's rows are prompts [${info.prompts}], expected 0..${b - 1}`);
      return info.resolution;
    });
    if (res.some((r) => r.height !== res[0]!.height || r.width !== res[0]!.width)) {
      throw new OptionError('layers', `LocalBlend layers must share one resolution, got ${res.map((r) => `${r.height}x${r.width}`).join(', ')}`);
    }
    const { height: H, width: W } = res[0]!;
    const out = tf.tidy(() => {
      const maps = tf.concat(names.map((n) => tf.reshape(opts.store.sum(n), [b, -1, H, W, k])), 1) as tf.Tensor5D;
      let mask = maskOf(maps, alphaLayers, true, thBlend, [h, w]);
      if (substructLayers) mask = tf.logicalAnd(mask, tf.logicalNot(maskOf(maps, substructLayers, false, thSub, [h, w])));
      const m = tf.cast(mask, 'float32') as tf.Tensor4D;
      const x0 = tf.slice(ev.latents, [0, 0, 0, 0], [1, -1, -1, -1]);
      return { latents: tf.add(x0, tf.mul(m, tf.sub(ev.latents, x0))) as tf.Tensor4D, mask: m };
    });
    last?.dispose();
    last = out.mask;
    return out.latents;
  };

  return {
    onStepEnd, alphaLayers, substructLayers,
    mask: () => (last ? tf.clone(last) : undefined),
    dispose: () => {
      last?.dispose();
      last = undefined;
    },
  };
}
