/**
 * The CLIP BPE tokenizer, matching transformers' `CLIPTokenizer` (slow, without ftfy) id for id: special-token
 * split, basic cleanup, pre-tokenizer regex, byte-level BPE, BOS/EOS, truncation to the model length keeping
 * EOS, padding with the config's pad token (EOS for SD1.x, `!` = 0 for SD2.x), attention mask, and decode.
 * Truncation is never silent: the result reports what was dropped, or `onTruncate: 'error'` throws.
 * @module
 */
import { OptionError } from '../errors.js';
import { BpeModel, byteDecode, byteEncode, WORD_END } from './bpe.js';
import { PromptTooLongError, TokenizerError } from './errors.js';
import { basicClean, cleanUpTokenization, preTokenize, pyStrip, splitOnSpecialTokens } from './text-cleanup.js';
import {
  clipSpecFromHf,
  clipSpecFromOpenAiBpe,
  type ClipTokenizerOverrides,
  type ClipTokenizerSpec,
  type HfTokenizerFiles,
  type OpenAiBpeOptions,
} from './tokenizer-vocab.js';

/**
 * Options of {@link ClipTokenizer.encode}. Defaults are what SD pipelines use: pad to the model length,
 * truncate, report the truncation.
 *
 * @example
 * ```ts
 * const raw: EncodeOptions = { padding: 'none', truncation: false }; // BOS + tokens + EOS, any length
 * ```
 */
export interface EncodeOptions {
  /** Length limit with BOS and EOS; default the tokenizer's `modelMaxLength` (77). */
  maxLength?: number;
  /** `'max_length'` (default) pads to `maxLength` with the pad token; `'none'` does not pad. */
  padding?: 'max_length' | 'none';
  /** Truncate to `maxLength` keeping EOS last (default true). When false, longer results are returned whole. */
  truncation?: boolean;
  /** On truncation: `'warn'` (default) returns the report in `truncated`; `'error'` throws {@link PromptTooLongError}. */
  onTruncate?: 'warn' | 'error';
}

/**
 * What truncation removed from a prompt.
 *
 * @example
 * ```ts
 * const t: TruncationReport = { droppedTokens: 2, droppedText: 'volumetric fog' };
 * ```
 */
export interface TruncationReport {
  /** Content tokens dropped (BOS/EOS not counted). */
  droppedTokens: number;
  /** The dropped tokens decoded to text (lowercased and cleaned as the tokenizer saw them). */
  droppedText: string;
}

/**
 * One encoded prompt.
 *
 * @example
 * ```ts
 * const e: Encoding = { ids: [49406, 320, 49407], attentionMask: [1, 1, 1], truncated: undefined };
 * ```
 */
export interface Encoding {
  /** Token ids: BOS, content, EOS, then padding. */
  ids: number[];
  /** 1 for BOS, content and EOS; 0 for padding. */
  attentionMask: number[];
  /** Set when truncation dropped tokens; `undefined` otherwise. */
  truncated: TruncationReport | undefined;
}

/**
 * Options of {@link ClipTokenizer.decode}.
 *
 * @example
 * ```ts
 * const o: DecodeOptions = { skipSpecialTokens: false };
 * ```
 */
export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, pad, unk); default true. */
  skipSpecialTokens?: boolean;
  /** Apply transformers' `clean_up_tokenization`; default the config's `clean_up_tokenization_spaces` (true). */
  cleanUpTokenizationSpaces?: boolean;
}

/**
 * One pre-tokenizer piece with its BPE tokens, located in {@link AnalyzedText.normalized}.
 *
 * @example
 * ```ts
 * const p: TokenPiece = { text: 'cat', start: 2, end: 5, tokens: ['cat</w>'], special: false };
 * ```
 */
export interface TokenPiece {
  text: string;
  start: number;
  end: number;
  tokens: readonly string[];
  /** A special token matched literally in the text. */
  special: boolean;
}

/**
 * A prompt after cleanup and pre-tokenization (see {@link ClipTokenizer.analyze}).
 *
 * @example
 * ```ts
 * tok.analyze('A Cat!').normalized; // 'a cat!'
 * ```
 */
export interface AnalyzedText {
  /** Cleaned text; segments around literal special tokens are joined with a space where the text had one. */
  normalized: string;
  pieces: TokenPiece[];
}

const ENCODE_KEYS = ['maxLength', 'padding', 'truncation', 'onTruncate'];
const DECODE_KEYS = ['skipSpecialTokens', 'cleanUpTokenizationSpaces'];

/**
 * CLIP's byte-level BPE tokenizer (transformers `CLIPTokenizer`, ftfy-less normalisation).
 *
 * @example
 * ```ts
 * const tok = await loadClipTokenizer('sd15/tokenizer');
 * tok.encode('a photo of a cat', { padding: 'none' }).ids; // [49406, 320, 1125, 539, 320, 2368, 49407]
 * ```
 */
export class ClipTokenizer {
  /** Token string → id. */
  readonly vocab: ReadonlyMap<string, number>;
  /** Id → token string (the last token wins where two share an id). */
  private readonly decoder: Map<number, string>;
  private readonly model: BpeModel;
  private readonly specialStrings: readonly string[];
  private readonly specialIdSet: ReadonlySet<number>;
  private readonly utf8: { decode(bytes: Uint8Array): string };

  /**
   * @param spec vocabulary, merges, special tokens and limits (see {@link clipSpecFromHf}, {@link clipSpecFromOpenAiBpe})
   */
  constructor(readonly spec: ClipTokenizerSpec) {
    this.vocab = spec.vocab;
    this.decoder = new Map([...spec.vocab].map(([t, id]) => [id, t] as const));
    this.model = new BpeModel(spec.merges);
    const { bos, eos, unk, pad, additional } = spec.special;
    this.specialStrings = [...new Set([bos, eos, unk, pad, ...additional])];
    this.specialIdSet = new Set(this.specialStrings.map((t) => this.vocab.get(t)!));
    this.utf8 = new TextDecoder('utf-8', { fatal: spec.decodeErrors === 'strict', ignoreBOM: true });
  }

  /**
   * A tokenizer from an HF tokenizer folder's parsed contents.
   *
   * @param files     parsed `vocab.json`, `merges.txt` text, optional configs
   * @param overrides explicit special tokens or length (e.g. `{ padToken: '!' }` for SD2.x)
   * @example
   * ```ts
   * const tok = ClipTokenizer.fromHf({ vocab: JSON.parse(v), merges: m });
   * ```
   */
  static fromHf(files: HfTokenizerFiles, overrides?: ClipTokenizerOverrides): ClipTokenizer {
    return new ClipTokenizer(clipSpecFromHf(files, overrides));
  }

  /**
   * A tokenizer from the text of openai's `bpe_simple_vocab_16e6.txt`.
   *
   * @param text    decompressed file text
   * @param options special tokens, length, file name
   * @example
   * ```ts
   * const tok = ClipTokenizer.fromOpenAiBpe(gunzipSync(gz).toString('utf8'));
   * ```
   */
  static fromOpenAiBpe(text: string, options?: OpenAiBpeOptions): ClipTokenizer {
    return new ClipTokenizer(clipSpecFromOpenAiBpe(text, options));
  }

  /** Length limit with BOS and EOS (77). */
  get modelMaxLength(): number {
    return this.spec.modelMaxLength;
  }
  /** Id of `<|startoftext|>`. */
  get bosTokenId(): number {
    return this.vocab.get(this.spec.special.bos)!;
  }
  /** Id of `<|endoftext|>`. */
  get eosTokenId(): number {
    return this.vocab.get(this.spec.special.eos)!;
  }
  /** Id used for padding: EOS for SD1.x, 0 (`!`) for SD2.x. */
  get padTokenId(): number {
    return this.vocab.get(this.spec.special.pad)!;
  }
  /** Id given to tokens missing from the vocabulary. */
  get unkTokenId(): number {
    return this.vocab.get(this.spec.special.unk)!;
  }
  /** Ids of all special tokens (skipped by {@link decode} by default). */
  get specialTokenIds(): ReadonlySet<number> {
    return this.specialIdSet;
  }

  /**
   * Cleans and pre-tokenizes a prompt and runs BPE on every piece, keeping where each piece sits.
   *
   * @param text the prompt
   * @example
   * ```ts
   * tok.analyze('Hello, world').pieces.map((p) => p.tokens); // [['hello</w>'], [',</w>'], ['world</w>']]
   * ```
   */
  analyze(text: string): AnalyzedText {
    checkPrompt(text);
    const pieces: TokenPiece[] = [];
    let normalized = '';
    let spaceBefore = false;
    for (const seg of splitOnSpecialTokens(text, this.specialStrings)) {
      const cleaned = seg.special ? seg.text : basicClean(seg.text);
      const startsWithSpace = !seg.special && /^\s/u.test(seg.text);
      if (cleaned !== '' && normalized !== '' && (spaceBefore || startsWithSpace)) normalized += ' ';
      spaceBefore = !seg.special && /\s$/u.test(seg.text);
      const offset = normalized.length;
      normalized += cleaned;
      if (seg.special) {
        pieces.push({ text: seg.text, start: offset, end: offset + seg.text.length, tokens: [seg.text], special: true });
        continue;
      }
      for (const p of preTokenize(cleaned)) {
        const tokens = this.model.bpe(byteEncode(p.text));
        pieces.push({ text: p.text, start: offset + p.start, end: offset + p.end, tokens, special: false });
      }
    }
    return { normalized, pieces };
  }

  /**
   * BPE token strings of a prompt, without BOS/EOS (`tokenizer.tokenize(text)`).
   *
   * @param text the prompt
   * @example
   * ```ts
   * tok.tokenize("Don't"); // ['don</w>', "'t</w>"]
   * ```
   */
  tokenize(text: string): string[] {
    return this.analyze(text).pieces.flatMap((p) => p.tokens);
  }

  /**
   * Ids of token strings; a token missing from the vocabulary gets the unk id (as the reference does).
   *
   * @param tokens BPE token strings
   * @example
   * ```ts
   * tok.convertTokensToIds(['a</w>', 'cat</w>']); // [320, 2368]
   * ```
   */
  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.vocab.get(t) ?? this.unkTokenId);
  }

  /**
   * Token strings of ids; throws {@link TokenizerError} on an id outside the vocabulary.
   *
   * @param ids token ids
   * @example
   * ```ts
   * tok.convertIdsToTokens([320, 2368]); // ['a</w>', 'cat</w>']
   * ```
   */
  convertIdsToTokens(ids: Iterable<number>): string[] {
    return Array.from(ids, (id, i) => {
      const t = Number.isInteger(id) ? this.decoder.get(id) : undefined;
      if (t === undefined) throw new TokenizerError(`id ${id} at position ${i} is not in the vocabulary (${this.spec.source})`);
      return t;
    });
  }

  /**
   * Encodes one prompt: BOS, tokens, EOS; truncated to `maxLength` keeping EOS (reported, or an error with
   * `onTruncate: 'error'`); padded with the pad token.
   *
   * @param text    the prompt
   * @param options padding, truncation, length (see {@link EncodeOptions})
   * @returns ids and mask of length `maxLength` when padded (77)
   * @example
   * ```ts
   * const e = tok.encode('a photo of a cat');
   * e.ids.length;                      // 77
   * e.ids.slice(0, 8);                 // [49406, 320, 1125, 539, 320, 2368, 49407, 49407] (SD1.x pads with EOS)
   * e.attentionMask.slice(0, 8);       // [1, 1, 1, 1, 1, 1, 1, 0]
   * ```
   */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const o = resolveEncodeOptions(options, this.modelMaxLength);
    const content = this.convertTokensToIds(this.tokenize(text));
    let body = content;
    let truncated: TruncationReport | undefined;
    const keep = o.maxLength - 2;
    if (o.truncation && content.length > keep) {
      const dropped = content.slice(keep);
      const droppedText = this.decode(dropped, { skipSpecialTokens: false });
      if (o.onTruncate === 'error') throw new PromptTooLongError(content.length + 2, o.maxLength, dropped.length, droppedText);
      truncated = { droppedTokens: dropped.length, droppedText };
      body = content.slice(0, keep);
    }
    const ids = [this.bosTokenId, ...body, this.eosTokenId];
    const attentionMask = ids.map(() => 1);
    if (o.padding === 'max_length') {
      for (let i = ids.length; i < o.maxLength; i++) {
        ids.push(this.padTokenId);
        attentionMask.push(0);
      }
    }
    return { ids, attentionMask, truncated };
  }

  /**
   * Encodes several prompts with the same options (see {@link encode}).
   *
   * @param texts   the prompts
   * @param options as for {@link encode}
   * @example
   * ```ts
   * tok.encodeBatch(['', 'a cat']).map((e) => e.ids.length); // [77, 77]
   * ```
   */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Encoding[] {
    if (!Array.isArray(texts)) throw new TokenizerError(`prompts must be an array of strings, got ${describe(texts)}`);
    resolveEncodeOptions(options, this.modelMaxLength);
    return texts.map((t, i) => {
      if (typeof t !== 'string') throw new TokenizerError(`prompt ${i} must be a string, got ${describe(t)}`);
      return this.encode(t, options);
    });
  }

  /**
   * Decodes ids to text as transformers does: join the tokens, bytes back to UTF-8 (invalid sequences replaced
   * per the config's `errors`), `</w>` → space, strip, then `clean_up_tokenization`.
   *
   * @param ids     token ids (any length; padding included is skipped with the special tokens)
   * @param options see {@link DecodeOptions}
   * @example
   * ```ts
   * tok.decode(tok.encode("it's a dog's life!").ids); // "it's a dog's life!"
   * ```
   */
  decode(ids: Iterable<number>, options: DecodeOptions = {}): string {
    checkKeys(options, DECODE_KEYS, 'decode');
    const skip = options.skipSpecialTokens ?? true;
    const cleanUp = options.cleanUpTokenizationSpaces ?? this.spec.cleanUpTokenizationSpaces;
    const all = Array.from(ids);
    const tokens = this.convertIdsToTokens(all);
    const joined = tokens.filter((_, i) => !(skip && this.specialIdSet.has(all[i]!))).join('');
    let text: string;
    try {
      text = this.utf8.decode(byteDecode(joined));
    } catch (e) {
      if (e instanceof TokenizerError) throw e;
      throw new TokenizerError(`ids do not decode to valid UTF-8 (config errors="strict"): ${(e as Error).message}`);
    }
    text = pyStrip(text.replaceAll(WORD_END, ' '));
    return cleanUp ? cleanUpTokenization(text) : text;
  }
}

function checkPrompt(text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new TokenizerError(`prompt must be a string, got ${describe(text)}`);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function checkKeys(options: object, known: readonly string[], where: string): void {
  if (typeof options !== 'object' || options === null) throw new OptionError(where, `options must be an object, got ${describe(options)}`);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new OptionError(k, `unknown ${where} option; known: ${known.join(', ')}`);
  }
}

function resolveEncodeOptions(o: EncodeOptions, modelMaxLength: number): Required<EncodeOptions> {
  checkKeys(o, ENCODE_KEYS, 'encode');
  const r: Required<EncodeOptions> = {
    maxLength: o.maxLength ?? modelMaxLength,
    padding: o.padding ?? 'max_length',
    truncation: o.truncation ?? true,
    onTruncate: o.onTruncate ?? 'warn',
  };
  if (!Number.isInteger(r.maxLength) || r.maxLength < 2) throw new OptionError('maxLength', `must be an integer >= 2 (BOS + EOS), got ${String(r.maxLength)}`);
  if (r.padding !== 'max_length' && r.padding !== 'none') throw new OptionError('padding', `must be 'max_length' or 'none', got ${String(r.padding)}`);
  if (typeof r.truncation !== 'boolean') throw new OptionError('truncation', `must be a boolean, got ${describe(r.truncation)}`);
  if (r.onTruncate !== 'warn' && r.onTruncate !== 'error') throw new OptionError('onTruncate', `must be 'warn' or 'error', got ${String(r.onTruncate)}`);
  return r;
}
