/**
 * Typed errors of the CLIP models: an unusable `config.json`, and token ids a text model cannot take.
 * (Weights go through the strict loading helpers, which raise `MissingWeightError` / `ShapeMismatchError` /
 * `UnexpectedWeightsError`.)
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * A CLIP config is unusable: an unknown or unsupported key, a value of the wrong type or out of range, an
 * unsupported `hidden_act`, or a `model_type` that is not CLIP.
 *
 * @example
 * ```ts
 * try { resolveClipTextConfig({ hidden_act: 'relu' }, { file: 'text_encoder/config.json' }); }
 * catch (e) { if (e instanceof ClipConfigError) console.log(e.key, e.file); } // 'hidden_act' 'text_encoder/config.json'
 * ```
 */
export class ClipConfigError extends SemeditError {
  /** The config key at fault, dotted for nested keys (e.g. `vision_config.patch_size`). */
  readonly key: string;
  /** The config file, when known. */
  readonly file: string | undefined;
  /**
   * @param key    the key at fault
   * @param detail what is wrong with it
   * @param file   the config file, when known
   */
  constructor(key: string, detail: string, file?: string) {
    super('E_CLIP_CONFIG', `${file ? `${file}: ` : ''}config key "${key}": ${detail}`);
    this.key = key;
    this.file = file;
  }
}

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
