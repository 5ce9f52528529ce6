/**
 * Byte-level BPE as CLIP does it (openai/CLIP `simple_tokenizer.py`, transformers `CLIPTokenizer.bpe`): every
 * byte of a piece's UTF-8 encoding becomes one printable character (`bytesToUnicode`), `</w>` is appended to the
 * last symbol, and adjacent symbol pairs are merged lowest merge rank first until no ranked pair is left.
 * @module
 */
import { TokenizerError } from './errors.js';

/** The word-end marker appended to the last symbol of every piece. */
export const WORD_END = '</w>';

/** How many merges CLIP reads from a merges file: `lines[1 : 49152 - 256 - 2 + 1]`, i.e. 48894. */
export const CLIP_MERGE_LIMIT = 49152 - 256 - 2;

/**
 * The byte → character table of GPT-2/CLIP byte-level BPE: printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`)
 * map to themselves, the 68 others to U+0100 onwards, in byte order.
 *
 * @returns 256 single-character strings indexed by byte value
 * @example
 * ```ts
 * const t = bytesToUnicode();
 * t[0x41]; // 'A'
 * t[0x20]; // 'Ġ' (U+0120: space is the 33rd unprintable byte)
 * ```
 */
export function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + n++));
  return out;
}

/**
 * The order in which openai's `SimpleTokenizer` lists the byte characters to build its vocabulary: the printable
 * bytes first (in byte order), then the others (`list(bytes_to_unicode().values())`).
 *
 * @returns the 256 byte characters in vocabulary order
 * @example
 * ```ts
 * byteCharsInVocabOrder()[0]; // '!' (id 0)
 * byteCharsInVocabOrder()[188]; // 'Ā' (byte 0x00, id 188)
 * ```
 */
export function byteCharsInVocabOrder(): string[] {
  const table = bytesToUnicode();
  const mapped = table.filter((c, b) => c.codePointAt(0) === b);
  const shifted = table.filter((c, b) => c.codePointAt(0) !== b);
  return [...mapped, ...shifted];
}

const BYTE_TO_CHAR = bytesToUnicode();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b] as const));
const UTF8 = new TextEncoder();

/**
 * Encodes a string's UTF-8 bytes as byte characters (`"".join(byte_encoder[b] for b in s.encode("utf-8"))`).
 *
 * @param text any string
 * @example
 * ```ts
 * byteEncode('a b'); // 'aĠb'
 * byteEncode('é');   // 'Ã©'
 * ```
 */
export function byteEncode(text: string): string {
  let out = '';
  for (const b of UTF8.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * Turns byte characters back into bytes (the `byte_decoder`); throws on a character that is not one of them.
 *
 * @param chars a string of byte characters (as produced by {@link byteEncode} or found in the vocabulary)
 * @example
 * ```ts
 * byteDecode('Ã©'); // Uint8Array [0xc3, 0xa9]
 * ```
 */
export function byteDecode(chars: string): Uint8Array {
  const out: number[] = [];
  for (const c of chars) {
    const b = CHAR_TO_BYTE.get(c);
    if (b === undefined) {
      throw new TokenizerError(`character U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} is not a byte character`);
    }
    out.push(b);
  }
  return Uint8Array.from(out);
}

/** One merge rule: join the symbols `a` and `b` into `a + b`. */
export type Merge = readonly [a: string, b: string];

/**
 * Parses a merges file as CLIP reads it: strip the text, split on `\n`, skip line 1 (the `#version` header,
 * required here so that a header-less file is not silently missing its first merge), take at most `limit`
 * lines, each exactly two whitespace-separated symbols.
 *
 * @param text  the file's text
 * @param limit most merges to read; CLIP reads {@link CLIP_MERGE_LIMIT}
 * @param file  file name for error messages
 * @example
 * ```ts
 * parseMerges('#version: 0.2\nh e\nhe l'); // [['h', 'e'], ['he', 'l']]
 * ```
 */
export function parseMerges(text: string, limit = CLIP_MERGE_LIMIT, file?: string): Merge[] {
  if (typeof text !== 'string') throw new TokenizerError(`merges must be text, got ${typeof text}`, { file });
  const lines = text.trim().split('\n');
  if (!lines[0]?.includes('#version')) {
    throw new TokenizerError(`first line must be the "#version" header (CLIP skips line 1), got "${lines[0]?.slice(0, 40) ?? ''}"`, { file, line: 1 });
  }
  const merges: Merge[] = [];
  const end = Math.min(lines.length, limit + 1);
  for (let i = 1; i < end; i++) {
    const parts = lines[i]!.trim().split(/\s+/).filter((p) => p !== '');
    if (parts.length !== 2) {
      throw new TokenizerError(`malformed merge "${lines[i]!.slice(0, 60)}": expected two space-separated symbols`, { file, line: i + 1 });
    }
    merges.push([parts[0]!, parts[1]!]);
  }
  return merges;
}

/** Most distinct pieces kept in the BPE cache before it is cleared. */
const CACHE_LIMIT = 50_000;

/**
 * The merge table plus the cached `bpe(piece)` of CLIP: ranks by merge order (a repeated pair keeps its last
 * rank, as Python's dict does), and the two special-token strings pass through whole.
 *
 * @example
 * ```ts
 * const m = new BpeModel([['l', 'o'], ['lo', 'w</w>']]);
 * m.bpe('low'); // ['low</w>']
 * m.bpe('lol'); // ['lo', 'l</w>']
 * ```
 */
export class BpeModel {
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly string[]>();
  private readonly fixed: ReadonlyMap<string, readonly string[]>;

  /**
   * @param merges       merge rules, highest priority first
   * @param passThrough  pieces returned as one token without `</w>` (CLIP: `<|startoftext|>`, `<|endoftext|>`)
   */
  constructor(merges: readonly Merge[], passThrough: readonly string[] = ['<|startoftext|>', '<|endoftext|>']) {
    merges.forEach(([a, b], rank) => this.ranks.set(pairKey(a, b), rank));
    this.fixed = new Map(passThrough.map((t) => [t, [t]] as const));
  }

  /** Number of distinct merge pairs. */
  get size(): number {
    return this.ranks.size;
  }

  /**
   * BPE of one pre-tokenized piece given as byte characters (see {@link byteEncode}).
   *
   * @param piece non-empty string of byte characters
   * @returns the merged symbols; the last ends with `</w>`
   * @example
   * ```ts
   * model.bpe('cat'); // ['cat</w>'] with the CLIP merges
   * ```
   */
  bpe(piece: string): readonly string[] {
    const fixed = this.fixed.get(piece) ?? this.cache.get(piece);
    if (fixed) return fixed;
    const chars = [...piece];
    if (chars.length === 0) throw new TokenizerError('cannot BPE an empty piece');
    let word = [...chars.slice(0, -1), chars[chars.length - 1] + WORD_END];
    while (word.length > 1) {
      let best = Infinity;
      let bestAt = -1;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(pairKey(word[i]!, word[i + 1]!));
        if (r !== undefined && r < best) [best, bestAt] = [r, i];
      }
      if (bestAt < 0) break;
      word = mergeAll(word, word[bestAt]!, word[bestAt + 1]!);
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, word);
    return word;
  }
}

function pairKey(a: string, b: string): string {
  return `${a}\u0000${b}`;
}

/** Merges every non-overlapping occurrence of `first second`, left to right (the reference's inner loop). */
function mergeAll(word: readonly string[], first: string, second: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < word.length; ) {
    if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
      out.push(first + second);
      i += 2;
    } else {
      out.push(word[i]!);
      i += 1;
    }
  }
  return out;
}
