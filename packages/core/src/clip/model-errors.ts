/**
 * Typed errors of the CLIP models: an unusable `config.json`, and token ids a text model cannot take.
 * (Weights go through the strict loading helpers, which raise `MissingWeightError` / `ShapeMismatchError` /
 * `UnexpectedWeightsError`.)
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * Token ids a CLIP text model cannot take: not integers, outside `[0, vocab_size)`, a row without the EOS
 * token the pooling needs, or an attention mask that is not 0/1.
 *
 * @example
 * ```ts
 * try { model.forward([[49406, 50000, 49407]]); }
 * catch (e) { if (e instanceof TokenIdsError) console.log(e.row, e.position); } // 0 1
 * ```
 */
export class TokenIdsError extends SemeditError {
  /** Batch row of the problem, when it has one. */
  readonly row: number | undefined;
  /** Position in the row, when it has one. */
  readonly position: number | undefined;
  /**
   * @param detail what is wrong
   * @param where  `{ row, position }` of the problem, when known
   */
  constructor(detail: string, where: { row?: number; position?: number } = {}) {
    const at = where.row === undefined ? '' : `row ${where.row}${where.position === undefined ? '' : `, position ${where.position}`}: `;
    super('E_TOKEN_IDS', `${at}${detail}`);
    this.row = where.row;
    this.position = where.position;
  }
}
