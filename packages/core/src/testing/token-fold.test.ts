/**
 * The fixtures' token_fold rule: parsing the written form (fixed mappings, the offset-modulo rule, vocab_size),
 * folding (special ids fixed, every other id into [offset, offset + modulus)), and errors for unreadable rules and
 * ids folding outside the vocabulary.
 */
import { describe, expect, it } from 'vitest';
import { SemeditError } from '../errors.js';
import { foldTokenIds, parseTokenFold } from './token-fold.js';

describe('token_fold', () => {
  it('parses fixed mappings, the modulo rule and vocab_size', () => {
    const f = parseTokenFold({ vocab_size: 50, sot: '900 -> 48', eot: '901 -> 49', pad: '0 -> 0', other: 'b -> 1 + b % 47' });
    expect([...f.fixed]).toEqual([[900, 48], [901, 49], [0, 0]]);
    expect([f.offset, f.modulus, f.vocabSize]).toEqual([1, 47, 50]);
    expect(foldTokenIds([900, 5, 47, 100, 901, 0, 0], f)).toEqual([48, 6, 1, 1 + (100 % 47), 49, 0, 0]);
  });

  it('property: non-special ids land in [offset, offset + modulus)', () => {
    const f = parseTokenFold({ other: 'b -> 3 + b % 11' });
    for (let b = 0; b < 500; b++) {
      const [x] = foldTokenIds([b], f);
      expect(x! >= 3 && x! < 14).toBe(true);
    }
  });

  it('refuses an unreadable entry, a missing modulo rule and an id outside the vocabulary', () => {
    expect(() => parseTokenFold({ other: 'b -> hash(b)' })).toThrow(SemeditError);
    expect(() => parseTokenFold({ sot: '1 -> 2' })).toThrow(/modulus/);
    expect(() => parseTokenFold({ vocab_size: -1, other: 'b -> 1 + b % 3' })).toThrow(/vocab_size/);
    const f = parseTokenFold({ vocab_size: 4, sot: '9 -> 7', other: 'b -> 1 + b % 3' });
    expect(() => foldTokenIds([9], f)).toThrow(/outside/);
  });
});
