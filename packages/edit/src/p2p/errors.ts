/**
 * Errors of Prompt-to-Prompt's prompt handling: prompts whose words do not fit the edit, words that are not in
 * a prompt.
 * @module
 */
import { SemeditError } from '@semedit/core';

/**
 * A prompt does not fit the requested edit: different word counts for a word swap, or a word (to re-weight,
 * blend or schedule) that is not in the prompt it was looked up in.
 *
 * @example
 * ```ts
 * throw new PromptEditError('word "dog" is not in the prompt', { prompt: 'a cat', word: 'dog' });
 * ```
 */
export class PromptEditError extends SemeditError {
  /** The prompt the problem was found in. */
  readonly prompt: string | undefined;
  /** The word concerned, when one is. */
  readonly word: string | undefined;
  /**
   * @param detail what is wrong
   * @param where  the prompt and word concerned
   */
  constructor(detail: string, where: { prompt?: string; word?: string } = {}) {
    super('E_P2P_PROMPT', `${detail}${where.prompt !== undefined ? ` (prompt "${where.prompt}")` : ''}`);
    this.prompt = where.prompt;
    this.word = where.word;
  }
}
