/**
 * Token folding of the tiny-CLIP fixtures: real CLIP BPE ids (up to 49407) do not fit a tiny text tower's
 * vocabulary, so the fixtures map them into it with a rule written in their `config.json` `token_fold`, e.g.
 * `{ "sot": "49406 -> 998", "eot": "49407 -> 999", "pad": "0 -> 0", "other": "b -> 1 + b % 997" }`: fixed
 * mappings for the special ids and an offset-modulo rule for every other id. This module parses that rule and
 * applies it.
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * A parsed fold rule: fixed id mappings, and `offset + id % modulus` for every other id.
 *
 * @example
 * ```ts
 * const f: TokenFold = { fixed: new Map([[49406, 998], [49407, 999], [0, 0]]), offset: 1, modulus: 997 };
 * ```
 */
export interface TokenFold {
  fixed: ReadonlyMap<number, number>;
  offset: number;
  modulus: number;
  /** The tiny vocabulary size, when the rule states it (every folded id must be below it). */
  vocabSize?: number;
}

/**
 * Parses a fixture's `token_fold` object: entries `"<id> -> <id>"` (fixed mappings), one `"b -> <offset> + b %
 * <modulus>"` (the rest) and an optional numeric `vocab_size`.
 *
 * @param spec the `token_fold` object of a fixture's config.json
 * @throws SemeditError `E_FIXTURE` for an entry it cannot read or a missing modulo rule
 * @example
 * ```ts
 * const fold = parseTokenFold(config.token_fold);
 * foldTokenIds([49406, 320, 49407, 0], fold); // [998, 1 + 320 % 997, 999, 0]
 * ```
 */
export function parseTokenFold(spec: Readonly<Record<string, unknown>>): TokenFold {
  const fixed = new Map<number, number>();
  let rule: { offset: number; modulus: number } | undefined;
  let vocabSize: number | undefined;
  for (const [key, value] of Object.entries(spec)) {
    if (key === 'vocab_size') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new SemeditError('E_FIXTURE', `token_fold.vocab_size: ${String(value)}`);
      vocabSize = value;
      continue;
    }
    const text = String(value).trim();
    const pair = /^(\d+)\s*->\s*(\d+)$/.exec(text);
    const mod = /^(\w+)\s*->\s*(\d+)\s*\+\s*\1\s*%\s*(\d+)$/.exec(text);
    if (pair) fixed.set(Number(pair[1]), Number(pair[2]));
    else if (mod && Number(mod[3]) > 0) rule = { offset: Number(mod[2]), modulus: Number(mod[3]) };
    else throw new SemeditError('E_FIXTURE', `token_fold.${key}: cannot read "${text}"`);
  }
  if (!rule) throw new SemeditError('E_FIXTURE', 'token_fold has no "b -> offset + b % modulus" rule');
  return { fixed, ...rule, ...(vocabSize === undefined ? {} : { vocabSize }) };
}

/**
 * Folds token ids with a {@link TokenFold}.
 *
 * @param ids  token ids (any iterable of integers)
 * @param fold the rule
 * @throws SemeditError `E_FIXTURE` when a folded id falls outside the stated vocabulary
 * @example
 * ```ts
 * foldTokenIds([49406, 49407], fold); // [998, 999]
 * ```
 */
export function foldTokenIds(ids: Iterable<number>, fold: TokenFold): number[] {
  return Array.from(ids, (b) => {
    const f = fold.fixed.get(b) ?? fold.offset + (b % fold.modulus);
    if (fold.vocabSize !== undefined && (f < 0 || f >= fold.vocabSize)) throw new SemeditError('E_FIXTURE', `token ${b} folds to ${f}, outside the vocabulary of ${fold.vocabSize}`);
    return f;
  });
}
