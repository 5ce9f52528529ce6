/**
 * Typed errors of the CLIP tokenizer: malformed vocabulary files, bad prompts, and prompts over the model's length
 * when the caller asked for an error instead of a truncation report.
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * A tokenizer file or input is unusable: vocabulary not an object or empty, a malformed merges line, a special
 * token missing from the vocabulary, a prompt that is not a string, an id outside the vocabulary.
 *
 * @example
 * ```ts
 * try { ClipTokenizer.fromHf({ vocab: {}, merges: '#version: 0.2\n' }); }
 * catch (e) { if (e instanceof TokenizerError) console.log(e.code, e.file); } // 'E_TOKENIZER' 'vocab.json'
 * ```
 */
export class TokenizerError extends SemeditError {
  /** The file the problem was found in, when known. */
  readonly file: string | undefined;
  /** 1-based line (merges file) of the problem, when it has one. */
  readonly line: number | undefined;
  /**
   * @param detail what is wrong
   * @param where  `{ file, line }` of the problem, when known
   */
  constructor(detail: string, where: { file?: string | undefined; line?: number | undefined } = {}) {
    const at = [where.file, where.line !== undefined ? `line ${where.line}` : undefined].filter(Boolean).join(' at ');
    super('E_TOKENIZER', at ? `${at}: ${detail}` : detail);
    this.file = where.file;
    this.line = where.line;
  }
}

/**
 * A prompt encodes to more tokens than the model takes, and `onTruncate: 'error'` asked for an error instead of
 * the truncation that every SD pipeline applies.
 *
 * @example
 * ```ts
 * try { tok.encode(longPrompt, { onTruncate: 'error' }); }
 * catch (e) { if (e instanceof PromptTooLongError) console.log(e.droppedTokens, e.droppedText); } // 7 'volumetric fog, ...'
 * ```
 */
export class PromptTooLongError extends SemeditError {
  /**
   * @param tokenCount    tokens of the prompt with BOS and EOS, before truncation
   * @param maxLength     the length limit (BOS and EOS included), e.g. 77
   * @param droppedTokens how many content tokens truncation would drop
   * @param droppedText   the dropped tokens decoded to text
   */
  constructor(
    readonly tokenCount: number,
    readonly maxLength: number,
    readonly droppedTokens: number,
    readonly droppedText: string,
  ) {
    super(
      'E_PROMPT_TOO_LONG',
      `prompt is ${tokenCount} tokens (with BOS/EOS), over the limit of ${maxLength}; truncation would drop ` +
        `${droppedTokens} token(s): "${droppedText}"`,
    );
  }
}
