/**
 * Text normalisation around CLIP's BPE, exactly as transformers' `CLIPTokenizer` does it when `ftfy` is not
 * installed (the reference of the `clip-tokenizer` fixture): the special-token split, `BasicTokenizer`'s
 * cleanup (control characters dropped, whitespace unified, CJK ideographs spaced, NFC, per-word `lower()`), the
 * pre-tokenizer regex, and on the way back the decode-time clean-up of spaces before punctuation.
 *
 * Not done (as in the reference fallback): `ftfy.fix_text` and `html.unescape` (openai's own tokenizer applies
 * both, so `&amp;` differs between the two).
 * @module
 */

/**
 * CLIP's pre-tokenizer: the two special tokens, seven English contractions, runs of letters, single digits, and
 * runs of anything else that is not whitespace (`IGNORECASE`, as the reference compiles it).
 *
 * @example
 * ```ts
 * [...'a cat\'s 42!'.matchAll(CLIP_PRETOKENIZE_PATTERN)].map((m) => m[0]); // ['a', 'cat', "'s", '4', '2', '!']
 * ```
 */
export const CLIP_PRETOKENIZE_PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** `_is_control`: any category C (Cc, Cf, Co, Cs, Cn) except `\t \n \r`. */
const CONTROL = /^(?![\t\n\r])\p{C}$/u;
/** `_is_whitespace`: space, `\t \n \r`, or category Zs. */
const WHITESPACE = /^[ \t\n\r\p{Zs}]$/u;
/** What Python's `str.split()` splits on, among the characters `_clean_text` keeps: space, U+2028, U+2029. */
const SPLIT = /[ \u2028\u2029]+/u;
/** Python's `str.isspace()` characters, for `str.strip()`. */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'gu');

/** CJK ideograph blocks that `BasicTokenizer._tokenize_chinese_chars` surrounds with spaces. */
const CJK_RANGES: readonly (readonly [number, number])[] = [
  [0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f], [0x2b820, 0x2ceaf], [0xf900, 0xfaff], [0x2f800, 0x2fa1f],
];

/**
 * Whether a code point is one of the CJK ideographs BERT's basic tokenizer isolates (Hiragana, Katakana and
 * Hangul are not).
 *
 * @param cp a Unicode code point
 * @example
 * ```ts
 * isCjkIdeograph(0x732b); // true ('猫')
 * isCjkIdeograph(0x30bf); // false ('タ')
 * ```
 */
export function isCjkIdeograph(cp: number): boolean {
  return CJK_RANGES.some(([lo, hi]) => cp >= lo && cp <= hi);
}

/**
 * The `ftfy`-less cleanup of transformers' `CLIPTokenizer`:
 * `" ".join(BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text))`.
 *
 * 1. drop U+0000, U+FFFD and category C characters except `\t \n \r`; whitespace (those three, space, Zs) → space;
 * 2. put spaces around CJK ideographs;
 * 3. NFC;
 * 4. split on whitespace, `lower()` each word (full Unicode lowercasing), join with single spaces.
 *
 * @param text raw prompt text (no special tokens: split those out first)
 * @returns the cleaned text; words separated by one space, no leading or trailing space
 * @example
 * ```ts
 * basicClean('  A\tPhoto\u200b of 北京 ');   // 'a photo of 北 京'
 * basicClean('İstanbul');                       // 'i̇stanbul' (U+0069 U+0307)
 * ```
 */
export function basicClean(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) continue;
    if (WHITESPACE.test(ch)) out += ' ';
    else if (isCjkIdeograph(cp)) out += ` ${ch} `;
    else out += ch;
  }
  return splitWords(out.normalize('NFC'))
    .map((w) => w.toLowerCase())
    .join(' ');
}

/**
 * Splits cleaned text into words the way Python's `str.split()` does on it (on runs of space, U+2028, U+2029),
 * without empty words.
 *
 * @param text text after the character cleanup of {@link basicClean}
 * @example
 * ```ts
 * splitWords(' a  b '); // ['a', 'b']
 * ```
 */
export function splitWords(text: string): string[] {
  return text.split(SPLIT).filter((w) => w !== '');
}

/**
 * One piece of the pre-tokenizer: its text and where it starts and ends (UTF-16 offsets) in the cleaned text.
 *
 * @example
 * ```ts
 * const p: PreToken = { text: 'cat', start: 2, end: 5 };
 * ```
 */
export interface PreToken {
  text: string;
  start: number;
  end: number;
}

/**
 * Splits cleaned text into pre-tokenizer pieces with {@link CLIP_PRETOKENIZE_PATTERN} (`re.findall`).
 *
 * @param cleaned output of {@link basicClean}
 * @example
 * ```ts
 * preTokenize("don't 2x").map((p) => p.text); // ['don', "'t", '2', 'x']
 * ```
 */
export function preTokenize(cleaned: string): PreToken[] {
  const out: PreToken[] = [];
  for (const m of cleaned.matchAll(CLIP_PRETOKENIZE_PATTERN)) {
    out.push({ text: m[0], start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/**
 * One segment of a prompt after the special-token split: plain text, or a special token matched literally.
 *
 * @example
 * ```ts
 * const s: Segment = { text: '<|endoftext|>', special: true };
 * ```
 */
export interface Segment {
  text: string;
  special: boolean;
}

/**
 * Splits text on literal occurrences of special tokens (the transformers added-token trie): scanning left to
 * right, the longest special token starting at a position wins. Case-sensitive.
 *
 * @param text     the raw prompt
 * @param specials special-token strings, e.g. `['<|startoftext|>', '<|endoftext|>']` (SD2 adds `'!'`)
 * @example
 * ```ts
 * splitOnSpecialTokens('a<|endoftext|>b', ['<|endoftext|>']);
 * // [{ text: 'a', special: false }, { text: '<|endoftext|>', special: true }, { text: 'b', special: false }]
 * ```
 */
export function splitOnSpecialTokens(text: string, specials: readonly string[]): Segment[] {
  const sorted = [...new Set(specials)].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  const out: Segment[] = [];
  let plainStart = 0;
  for (let i = 0; i < text.length; ) {
    const hit = sorted.find((s) => text.startsWith(s, i));
    if (hit === undefined) {
      i++;
      continue;
    }
    if (i > plainStart) out.push({ text: text.slice(plainStart, i), special: false });
    out.push({ text: hit, special: true });
    i += hit.length;
    plainStart = i;
  }
  if (plainStart < text.length) out.push({ text: text.slice(plainStart), special: false });
  return out;
}

/**
 * Python's `str.strip()` with no argument: removes leading and trailing characters for which `isspace()` holds.
 *
 * @param text any string
 * @example
 * ```ts
 * pyStrip('\u0085 a \u3000'); // 'a'
 * ```
 */
export function pyStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

/**
 * transformers' `clean_up_tokenization` (decode with `clean_up_tokenization_spaces=True`): removes the space
 * before `. ? ! ,`, joins ` ' `, and re-attaches `n't 'm 's 've 're`. (Not ` 't`, ` 'll`, ` 'd`.)
 *
 * @param text decoded text
 * @example
 * ```ts
 * cleanUpTokenization("hello , world . it 's"); // "hello, world. it's"
 * cleanUpTokenization("don 't");                // "don 't"
 * ```
 */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
