/**
 * Word-level maps of Prompt-to-Prompt (algorithms.md §1.2.4, §1.2.6, §1.2.7): which token columns a word owns,
 * the word-swap replacement matrix (`get_replacement_mapper`), and the re-weighting equalizer (`get_equalizer`).
 * @module
 */
import { OptionError } from '@semedit/core';
import { wordToTokenIndices, type ClipTokenizer, type WordIndexOptions } from '@semedit/core/clip';
import { PromptEditError } from './errors.js';

/**
 * How words are found in prompts: `'reference'` is `get_word_inds` exactly (case- and punctuation-sensitive).
 *
 * @example
 * ```ts
 * const mode: WordMode = 'robust'; // "burger" also finds "burger."
 * ```
 */
export type WordMode = NonNullable<WordIndexOptions['mode']>;

/**
 * Token columns (BOS = 0) of a word of a prompt, refusing a word that is not there.
 *
 * @param tokenizer the CLIP tokenizer
 * @param prompt    the prompt
 * @param word      a word, or a 0-based word position
 * @param mode      word lookup mode (default `'reference'`)
 * @throws PromptEditError when the word has no tokens in the prompt
 * @example
 * ```ts
 * wordTokens(tok, 'pea soup with croutons', 'croutons'); // [4, 5, 6]
 * ```
 */
export function wordTokens(tokenizer: ClipTokenizer, prompt: string, word: string | number, mode: WordMode = 'reference'): number[] {
  const inds = wordToTokenIndices(tokenizer, prompt, word, { mode });
  if (inds.length === 0) {
    const hint = mode === 'reference' && typeof word === 'string' ? ' (the reference lookup is exact: case and punctuation count; wordMode "robust" relaxes it)' : '';
    throw new PromptEditError(`word ${JSON.stringify(word)} is not in the prompt${hint}`, { prompt, ...(typeof word === 'string' ? { word } : {}) });
  }
  const max = tokenizer.modelMaxLength - 1;
  if (inds.some((i) => i >= max)) throw new PromptEditError(`word ${JSON.stringify(word)} lies past the ${max - 1} tokens the text encoder keeps`, { prompt });
  return inds;
}

/**
 * Options of {@link replacementMapper}.
 *
 * @example
 * ```ts
 * const o: ReplacementMapperOptions = { mode: 'reference' };
 * ```
 */
export interface ReplacementMapperOptions {
  /**
   * `'corrected'` (default): every source token feeds the aligned target token. `'reference'`: the reference's
   * loop, bit for bit, including its quirk: after the last swapped word, target column j is fed from source row
   * j (not from the aligned row), which shifts every later token when the swapped words' token counts differ.
   */
  mode?: 'corrected' | 'reference';
  /** Token columns (default the tokenizer's model length, 77). */
  maxLen?: number;
}

/**
 * The word-swap matrix M `[maxLen, maxLen]` (row-major, source row w → target column n) of one edited prompt:
 * `R(base)[.., n] = Σ_w base[.., w] · M[w, n]`. Prompts need the same number of space-separated words; for each
 * differing word, equal token counts map one to one, else each target token gets `1 / len(target tokens)` of
 * every source token of the word.
 *
 * @param tokenizer the CLIP tokenizer
 * @param source    the source prompt
 * @param target    the edited prompt
 * @param opts      mapper mode, width
 * @throws PromptEditError when the word counts differ
 * @example
 * ```ts
 * const m = replacementMapper(tok, 'a photo of a cat', 'a photo of a hippopotamus', { mode: 'reference' });
 * m[5 * 77 + 6]; // 1/3: "cat" (row 5) feeds the three tokens of "hippopotamus"
 * ```
 */
export function replacementMapper(tokenizer: ClipTokenizer, source: string, target: string, opts: ReplacementMapperOptions = {}): Float32Array {
  const maxLen = opts.maxLen ?? tokenizer.modelMaxLength;
  const mode = opts.mode ?? 'corrected';
  if (mode !== 'corrected' && mode !== 'reference') throw new OptionError('mapper', `must be 'corrected' or 'reference', got ${String(mode)}`);
  const wx = source.split(' ');
  const wy = target.split(' ');
  if (wx.length !== wy.length) {
    throw new PromptEditError(
      `a word swap needs prompts with the same number of space-separated words, but the source has ${wx.length} and the target ${wy.length} (use refine for added words)`,
      { prompt: target },
    );
  }
  const swapped = wy.flatMap((w, i) => (w !== wx[i] ? [i] : []));
  const src = swapped.map((i) => wordTokens(tokenizer, source, i));
  const tgt = swapped.map((i) => wordTokens(tokenizer, target, i));
  const m = new Float32Array(maxLen * maxLen);
  let i = 0;
  let j = 0;
  let cur = 0;
  while (j < maxLen && (i < maxLen || mode === 'corrected')) {
    if (cur < src.length && src[cur]![0] === i) {
      const s = src[cur]!;
      const t = tgt[cur]!;
      if (s.length === t.length) s.forEach((row, k) => (m[row * maxLen + t[k]!] = 1));
      else for (const row of s) for (const col of t) m[row * maxLen + col] = 1 / t.length;
      cur++;
      i += s.length;
      j += t.length;
    } else {
      // Reference: rows follow the source counter until the last swapped word, then (quirk) the target counter.
      // Corrected: always the source counter; when the source runs out, padding feeds padding.
      const row = mode === 'reference' && cur >= src.length ? j : i < maxLen ? i : j;
      m[row * maxLen + j] = 1;
      i++;
      j++;
    }
  }
  return m;
}

/**
 * One word's weight: a word of the prompt (or its position) and the factor for its attention columns.
 *
 * @example
 * ```ts
 * const w: WordWeight = ['smiling', 5];
 * ```
 */
export type WordWeight = readonly [word: string | number, weight: number];

/**
 * Options of {@link equalizer}.
 *
 * @example
 * ```ts
 * const o: EqualizerOptions = { maxAbsWeight: 20 };
 * ```
 */
export interface EqualizerOptions {
  /** Largest |weight| accepted (default 10, the largest the reference notebooks use). */
  maxAbsWeight?: number;
  /** Word lookup mode (default `'reference'`). */
  wordMode?: WordMode;
  /** Token columns (default 77). */
  maxLen?: number;
}

/**
 * The re-weighting equalizer `[maxLen]` of one prompt: ones, with each chosen word's token columns set to its
 * weight (the null-text notebook's convention: one value per word). Negative weights flip the attention's sign;
 * nothing renormalizes.
 *
 * @param tokenizer the CLIP tokenizer
 * @param prompt    the prompt whose cross-attention is re-weighted
 * @param weights   `[word, weight]` pairs, or a record word → weight
 * @param opts      weight bound, lookup mode, width
 * @throws OptionError for a non-finite or out-of-range weight; PromptEditError for a word not in the prompt
 * @example
 * ```ts
 * const eq = equalizer(tok, 'a smiling bunny doll', { smiling: 5 });
 * eq[2]; // 5 (all other entries 1)
 * ```
 */
export function equalizer(
  tokenizer: ClipTokenizer, prompt: string, weights: readonly WordWeight[] | Readonly<Record<string, number>>, opts: EqualizerOptions = {},
): Float32Array {
  const maxLen = opts.maxLen ?? tokenizer.modelMaxLength;
  const bound = opts.maxAbsWeight ?? 10;
  const pairs: readonly WordWeight[] = Array.isArray(weights) ? (weights as readonly WordWeight[]) : Object.entries(weights);
  if (pairs.length === 0) throw new OptionError('weights', 'give at least one word to re-weight');
  const eq = new Float32Array(maxLen).fill(1);
  for (const [word, w] of pairs) {
    if (typeof w !== 'number' || !Number.isFinite(w) || Math.abs(w) > bound) {
      throw new OptionError(`weights.${String(word)}`, `must be a finite number in [-${bound}, ${bound}], got ${String(w)}`);
    }
    for (const i of wordTokens(tokenizer, prompt, word, opts.wordMode)) eq[i] = w;
  }
  return eq;
}
