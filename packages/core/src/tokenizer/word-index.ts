/**
 * Word → token index lookup for Prompt-to-Prompt (`ptp_utils.get_word_inds`, algorithms.md §1.2.7): which token
 * columns of the 77-wide cross-attention belong to a word of the prompt.
 *
 * Two modes:
 * - `'reference'` (default): the reference, quirks included. Words are `text.split(" ")`; a string matches whole
 *   words exactly (case- and punctuation-sensitive: "burger" does not find "burger."); every token is decoded on
 *   its own, `#` stripped, and lengths are accumulated until they reach the current word's length (multiple
 *   spaces, `#` and non-ASCII text can desynchronise this, as in the reference).
 * - `'robust'`: words are the whitespace-separated words of the text, each tokenized on its own (which gives the
 *   same tokens as the whole prompt); a string matches a word after both are cleaned as the tokenizer cleans
 *   them (so case-insensitively) and leading/trailing punctuation is ignored, and only the word's own tokens are
 *   returned ("burger." → the tokens of "burger", not of ".").
 *
 * Indices count BOS as 0, and are not truncated: an index >= `modelMaxLength - 1` is a token that a truncated
 * encoding drops.
 * @module
 */
import { OptionError } from '../errors.js';
import { TokenizerError } from './errors.js';
import type { ClipTokenizer } from './tokenizer.js';

/**
 * Options of {@link wordToTokenIndices}.
 *
 * @example
 * ```ts
 * const o: WordIndexOptions = { mode: 'robust' };
 * ```
 */
export interface WordIndexOptions {
  /** `'reference'` (default): `get_word_inds` exactly; `'robust'`: punctuation- and case-tolerant. */
  mode?: 'reference' | 'robust';
}

/** Separators of words in the robust mode: what the tokenizer's cleanup turns into (or splits on as) spaces. */
const WORD_SEPARATORS = /[\t\n\r\p{Zs}\u2028\u2029]+/u;
/** Leading and trailing punctuation (Unicode P categories) ignored by the robust mode. */
const EDGE_PUNCTUATION = /^\p{P}+|\p{P}+$/gu;

/**
 * Token indices (BOS = 0) of a word of the prompt: all occurrences of a string word, or the word at a position.
 *
 * @param tokenizer the CLIP tokenizer of the model
 * @param text      the prompt
 * @param word      a word (string) or a word position (integer, 0-based)
 * @param options   `mode` (see the module comment)
 * @returns ascending token indices; empty when the word is not found
 * @example
 * ```ts
 * wordToTokenIndices(tok, 'pea soup with croutons', 'croutons');                       // [4, 5, 6]
 * wordToTokenIndices(tok, 'A painting of a squirrel eating a burger.', 'burger');      // [] (reference quirk)
 * wordToTokenIndices(tok, 'A painting of a squirrel eating a burger.', 'burger', { mode: 'robust' }); // [8]
 * ```
 */
export function wordToTokenIndices(
  tokenizer: ClipTokenizer,
  text: string,
  word: string | number,
  options: WordIndexOptions = {},
): number[] {
  if (typeof options !== 'object' || options === null) throw new OptionError('options', 'must be an object');
  for (const k of Object.keys(options)) if (k !== 'mode') throw new OptionError(k, 'unknown word-index option; known: mode');
  const mode = options.mode ?? 'reference';
  if (mode !== 'reference' && mode !== 'robust') throw new OptionError('mode', `must be 'reference' or 'robust', got ${String(mode)}`);
  if (typeof text !== 'string') throw new TokenizerError(`prompt must be a string, got ${typeof text}`);
  if (typeof word !== 'string' && !(typeof word === 'number' && Number.isInteger(word))) {
    throw new TokenizerError(`word must be a string or an integer position, got ${String(word)}`);
  }
  return mode === 'reference' ? referenceIndices(tokenizer, text, word) : robustIndices(tokenizer, text, word);
}

/** `get_word_inds` of google/prompt-to-prompt `ptp_utils.py`, step by step. */
function referenceIndices(tokenizer: ClipTokenizer, text: string, word: string | number): number[] {
  const splitText = text.split(' ');
  const places = typeof word === 'string' ? splitText.flatMap((w, i) => (w === word ? [i] : [])) : [word];
  if (places.length === 0) return [];
  const ids = tokenizer.encode(text, { padding: 'none', truncation: false }).ids.slice(1, -1);
  // `tokenizer.decode([item]).strip("#")` per token; lengths in code points, as Python's len().
  const lengths = ids.map((id) => [...stripHashes(tokenizer.decode([id], { skipSpecialTokens: false }))].length);
  const out: number[] = [];
  let curLen = 0;
  let ptr = 0;
  for (let i = 0; i < lengths.length; i++) {
    curLen += lengths[i]!;
    if (places.includes(ptr)) out.push(i + 1);
    const current = splitText[ptr];
    if (current === undefined) {
      // The reference raises IndexError here: the tokens outran the words.
      throw new TokenizerError(`word lookup lost sync: token ${i + 1} of "${text}" is past the last space-separated word (reference mode; try mode 'robust')`);
    }
    if (curLen >= [...current].length) {
      ptr += 1;
      curLen = 0;
    }
  }
  return out;
}

function stripHashes(s: string): string {
  return s.replace(/^#+|#+$/g, '');
}

/** Whitespace-split words, each tokenized alone; matched after cleanup with edge punctuation ignored. */
function robustIndices(tokenizer: ClipTokenizer, text: string, word: string | number): number[] {
  const words = text.split(WORD_SEPARATORS).filter((w) => w !== '');
  let query: { full: string; core: string } | undefined;
  if (typeof word === 'string') {
    const q = tokenizer.analyze(word).normalized;
    if (q === '' || /\s/u.test(q)) throw new TokenizerError(`word must be one non-empty word, got "${word}"`);
    query = { full: q, core: q.replace(EDGE_PUNCTUATION, '') };
  }
  const out: number[] = [];
  let index = 1; // BOS is 0
  words.forEach((w, position) => {
    const { normalized, pieces } = tokenizer.analyze(w);
    const core = normalized.replace(EDGE_PUNCTUATION, '');
    const coreStart = normalized.search(/[^\p{P}]/u);
    const coreEnd = coreStart < 0 ? -1 : coreStart + core.length;
    let selected: (p: { start: number; end: number }) => boolean = () => false;
    if (query === undefined) {
      if (position === word) selected = () => true;
    } else if (query.core === '' ? normalized === query.full : core === query.core) {
      selected = query.core === '' ? () => true : (p) => p.end > coreStart && p.start < coreEnd;
    }
    for (const p of pieces) {
      const take = selected(p);
      for (let t = 0; t < p.tokens.length; t++, index++) if (take) out.push(index);
    }
  });
  return out;
}
