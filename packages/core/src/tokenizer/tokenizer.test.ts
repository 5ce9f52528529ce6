import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OptionError, SemeditError } from '../errors.js';
import { BpeModel, byteCharsInVocabOrder, byteDecode, byteEncode, bytesToUnicode, parseMerges } from './bpe.js';
import { PromptTooLongError, TokenizerError } from './errors.js';
import {
  basicClean,
  cleanUpTokenization,
  isCjkIdeograph,
  preTokenize,
  pyStrip,
  splitOnSpecialTokens,
} from './text-cleanup.js';
import { ClipTokenizer } from './tokenizer.js';
import { loadClipTokenizer, loadClipTokenizerFiles, loadOpenAiClipTokenizer } from './tokenizer-load.js';
import { wordToTokenIndices } from './word-index.js';

describe('bytesToUnicode', () => {
  const table = bytesToUnicode();
  it('maps the 188 printable Latin-1 bytes to themselves and the other 68 to U+0100.. in byte order', () => {
    expect(table).toHaveLength(256);
    expect(new Set(table).size).toBe(256);
    for (const b of [0x21, 0x41, 0x7e, 0xa1, 0xac, 0xae, 0xff]) expect(table[b]).toBe(String.fromCodePoint(b));
    expect(table[0x00]).toBe('\u0100');
    expect(table[0x20]).toBe('\u0120'); // 'Ġ': space is the 33rd unprintable byte
    expect(table[0x7f]).toBe('\u0121');
    expect(table[0xa0]).toBe('\u0142');
    expect(table[0xad]).toBe('\u0143');
    expect(table.filter((c, b) => c.codePointAt(0) === b)).toHaveLength(188);
  });
  it('lists printable bytes first in vocabulary order (openai simple_tokenizer)', () => {
    const order = byteCharsInVocabOrder();
    expect(order[0]).toBe('!');
    expect(order[187]).toBe('ÿ');
    expect(order[188]).toBe('\u0100');
    expect(order[255]).toBe('\u0143');
  });
  it('byte-encodes UTF-8 and decodes back', () => {
    expect(byteEncode('a b')).toBe('a\u0120b');
    expect(byteEncode('é')).toBe('Ã©'); // 0xC3 0xA9
    expect([...byteDecode(byteEncode('猫 😀'))]).toEqual([...new TextEncoder().encode('猫 😀')]);
    expect(() => byteDecode('\u4e00')).toThrow(TokenizerError);
  });
});

describe('parseMerges', () => {
  it('skips the #version header and reads pairs', () => {
    expect(parseMerges('#version: 0.2\nh e\nhe l\n')).toEqual([['h', 'e'], ['he', 'l']]);
  });
  it('stops at the limit, as CLIP reads only the first 48894 merges', () => {
    expect(parseMerges('#version: 0.2\na b\nc d\ne f', 2)).toEqual([['a', 'b'], ['c', 'd']]);
  });
  it('rejects a malformed line with its line number, and a missing header', () => {
    expect(() => parseMerges('#version: 0.2\na b\nabc\n', 10, 'm.txt')).toThrow(/m\.txt at line 3: malformed merge "abc"/);
    expect(() => parseMerges('#version: 0.2\na b c')).toThrow(TokenizerError);
    expect(() => parseMerges('a b\nc d')).toThrow(/#version/);
  });
});

describe('BpeModel on a hand-made merge table', () => {
  const model = new BpeModel(parseMerges('#version: 0.2\nl o\nlo w</w>\ne r</w>\na a\naa a</w>\nb c'));
  it('merges by rank until no ranked pair is left', () => {
    expect(model.bpe('low')).toEqual(['low</w>']); // l o w</w> → lo w</w> → low</w>
    expect(model.bpe('lower')).toEqual(['lo', 'w', 'er</w>']); // (lo, w) is not a merge
    expect(model.bpe('x')).toEqual(['x</w>']);
    expect(model.bpe('bc')).toEqual(['b', 'c</w>']); // the rule is b c, not b c</w>
  });
  it('merges every occurrence of the best pair left to right, without overlap', () => {
    expect(model.bpe('aaa')).toEqual(['aaa</w>']); // a a a</w> → aa a</w> → aaa</w>
    expect(model.bpe('aaaa')).toEqual(['aa', 'a', 'a</w>']); // (a, a</w>) is not a merge
    expect(model.bpe('aaaaa')).toEqual(['aa', 'aaa</w>']); // a a a a a</w> → aa aa a</w> → aa aaa</w>
  });
  it('passes the special tokens through whole and caches', () => {
    expect(model.bpe('<|endoftext|>')).toEqual(['<|endoftext|>']);
    expect(model.bpe('low')).toBe(model.bpe('low'));
    expect(model.size).toBe(6);
  });
});

describe('text cleanup (transformers BasicTokenizer fallback)', () => {
  it('drops control/format/private-use characters, U+0000 and U+FFFD; unifies whitespace', () => {
    expect(basicClean('A\tPhoto\nOF\r\ncat')).toBe('a photo of cat');
    expect(basicClean('ctrl\x07char zero\u200bwidth \ue000x')).toBe('ctrlchar zerowidth x');
    expect(basicClean('a\u0000b\ufffdc')).toBe('abc');
    expect(basicClean('a\u00a0b\u3000c\u2028d')).toBe('a b c d');
    expect(basicClean('a\u000bb')).toBe('ab'); // vertical tab is Cc: dropped, not a space
    expect(basicClean('  ')).toBe('');
  });
  it('spaces CJK ideographs only, composes NFC, lowercases per word', () => {
    expect(basicClean('猫cat タワー')).toBe('猫 cat タワー');
    expect(isCjkIdeograph(0x4eac)).toBe(true);
    expect(isCjkIdeograph(0xac00)).toBe(false); // Hangul
    expect(basicClean('Cafe\u0301')).toBe('caf\u00e9');
    expect(basicClean('İstanbul')).toBe('i\u0307stanbul');
    expect(basicClean('ΟΔΟΣ')).toBe('οδος'); // final sigma, as Python's str.lower()
  });
  it('pre-tokenizes: contractions, letter runs, single digits, other runs, special tokens', () => {
    const texts = (s: string) => preTokenize(s).map((p) => p.text);
    expect(texts("a cat's 42 dogs!!")).toEqual(['a', 'cat', "'s", '4', '2', 'dogs', '!!']);
    expect(texts("don't rock'n'roll")).toEqual(['don', "'t", 'rock', "'", 'n', "'", 'roll']);
    expect(texts('x<|startoftext|>y')).toEqual(['x', '<|startoftext|>', 'y']);
    expect(texts("IT'S")).toEqual(['IT', "'S"]); // IGNORECASE
    expect(preTokenize('ab, c')).toEqual([{ text: 'ab', start: 0, end: 2 }, { text: ',', start: 2, end: 3 }, { text: 'c', start: 4, end: 5 }]);
  });
  it('splits on literal special tokens, longest first, case-sensitive', () => {
    expect(splitOnSpecialTokens('a<|endoftext|>b!', ['<|endoftext|>', '!'])).toEqual([
      { text: 'a', special: false },
      { text: '<|endoftext|>', special: true },
      { text: 'b', special: false },
      { text: '!', special: true },
    ]);
    expect(splitOnSpecialTokens('<|ENDOFTEXT|>', ['<|endoftext|>'])).toEqual([{ text: '<|ENDOFTEXT|>', special: false }]);
    expect(splitOnSpecialTokens('abc', ['a', 'ab'])).toEqual([{ text: 'ab', special: true }, { text: 'c', special: false }]);
  });
  it('strips like Python and cleans up decode spaces like transformers', () => {
    expect(pyStrip('\u0085 a b\u3000\u001f')).toBe('a b');
    expect(pyStrip('\ufeffa')).toBe('\ufeffa'); // not whitespace for Python
    expect(cleanUpTokenization("hello , world . it 's they 're i 'm we 've ca n't a ' b ?!")).toBe(
      "hello, world. it's they're i'm we've can't a'b?!",
    );
    expect(cleanUpTokenization("don 't you 'll he 'd")).toBe("don 't you 'll he 'd");
  });
});

/** A tiny CLIP-style tokenizer: the tokens below in this order, ids by position. */
const TINY_TOKENS = ['!', 'a', 'c', 'e', 'h', 't', 'a</w>', 'c</w>', 'e</w>', 'h</w>', 't</w>', '!</w>', ',</w>', 'ca', 'cat</w>', 'th', 'the</w>', '<|startoftext|>', '<|endoftext|>'];
const TINY_MERGES = '#version: 0.2\nc a\nca t</w>\nt h\nth e</w>\n';
const tinyVocab = () => Object.fromEntries(TINY_TOKENS.map((t, i) => [t, i]));
const idOf = (t: string) => TINY_TOKENS.indexOf(t);
const BOS = idOf('<|startoftext|>');
const EOS = idOf('<|endoftext|>');
const tiny = (o?: { padToken?: string; modelMaxLength?: number }) => ClipTokenizer.fromHf({ vocab: tinyVocab(), merges: TINY_MERGES }, o);

describe('ClipTokenizer on a tiny vocabulary', () => {
  it('tokenizes and encodes with BOS/EOS; unknown pieces get the unk id', () => {
    const tok = tiny({ modelMaxLength: 8 });
    expect(tok.tokenize('The CAT tac')).toEqual(['the</w>', 'cat</w>', 't', 'a', 'c</w>']);
    const e = tok.encode('the cat z'); // 'z</w>' is not in the vocabulary: unk, which is EOS here
    expect(e.ids).toEqual([BOS, idOf('the</w>'), idOf('cat</w>'), EOS, EOS, EOS, EOS, EOS]);
    expect(e.ids).toHaveLength(8);
    expect(tok.encode('z', { padding: 'none' }).ids).toEqual([BOS, EOS, EOS]); // 'z</w>' → unk (= EOS here)
    expect(e.attentionMask).toEqual([1, 1, 1, 1, 1, 0, 0, 0]);
    expect(e.truncated).toBeUndefined();
  });
  it('pads with the configured pad token; a non-EOS pad token is also split out literally (SD2.x "!")', () => {
    const sd2 = tiny({ padToken: '!', modelMaxLength: 6 });
    expect(sd2.padTokenId).toBe(0);
    expect(sd2.encode('cat!').ids).toEqual([BOS, idOf('cat</w>'), idOf('!'), EOS, 0, 0]);
    expect(sd2.encode('cat!').attentionMask).toEqual([1, 1, 1, 1, 0, 0]);
    expect(tiny({ modelMaxLength: 6 }).encode('cat!').ids).toEqual([BOS, idOf('cat</w>'), idOf('!</w>'), EOS, EOS, EOS]);
  });
  it('truncates keeping EOS and reports what was dropped', () => {
    const tok = tiny();
    const e = tok.encode('the cat the cat', { maxLength: 4 });
    expect(e.ids).toEqual([BOS, idOf('the</w>'), idOf('cat</w>'), EOS]);
    expect(e.attentionMask).toEqual([1, 1, 1, 1]);
    expect(e.truncated).toEqual({ droppedTokens: 2, droppedText: 'the cat' });
    expect(tok.encode('the cat the cat', { maxLength: 4, truncation: false }).ids).toHaveLength(6);
    expect(tok.encode('the cat', { maxLength: 4 }).truncated).toBeUndefined();
  });
  it("throws PromptTooLongError with onTruncate: 'error'", () => {
    const run = () => tiny().encode('the cat, the cat', { maxLength: 4, onTruncate: 'error' });
    expect(run).toThrow(PromptTooLongError);
    expect(run).toThrow(/7 tokens.*limit of 4.*drop 3 token\(s\): ", the cat"/);
    try {
      run();
    } catch (e) {
      expect(e).toBeInstanceOf(SemeditError);
      expect((e as PromptTooLongError).code).toBe('E_PROMPT_TOO_LONG');
      expect((e as PromptTooLongError).droppedTokens).toBe(3);
    }
  });
  it('encodes batches', () => {
    const tok = tiny({ modelMaxLength: 5 });
    expect(tok.encodeBatch(['', 'cat']).map((e) => e.ids)).toEqual([
      [BOS, EOS, EOS, EOS, EOS],
      [BOS, idOf('cat</w>'), EOS, EOS, EOS],
    ]);
  });
  it('decodes: skips special tokens by default, </w> → space, cleans up spaces', () => {
    const tok = tiny();
    const ids = [BOS, idOf('the</w>'), idOf('cat</w>'), idOf(',</w>'), idOf('ca'), idOf('t</w>'), EOS, EOS];
    expect(tok.decode(ids)).toBe('the cat, cat');
    expect(tok.decode(ids, { cleanUpTokenizationSpaces: false })).toBe('the cat , cat');
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe('<|startoftext|>the cat, cat <|endoftext|><|endoftext|>');
    expect(tok.decode(new Int32Array([idOf('t'), idOf('h')]))).toBe('th');
  });
  it('rejects bad prompts, options and ids with typed errors', () => {
    const tok = tiny();
    expect(() => tok.encode(42 as unknown as string)).toThrow(TokenizerError);
    expect(() => tok.encode(42 as unknown as string)).toThrow(/prompt must be a string, got number/);
    expect(() => tok.encodeBatch('cat' as unknown as string[])).toThrow(TokenizerError);
    expect(() => tok.encodeBatch(['cat', null as unknown as string])).toThrow(/prompt 1 must be a string/);
    expect(() => tok.encode('cat', { maxLen: 5 } as never)).toThrow(OptionError);
    expect(() => tok.encode('cat', { padding: 'longest' } as never)).toThrow(/padding/);
    expect(() => tok.encode('cat', { maxLength: 1 })).toThrow(/maxLength/);
    expect(() => tok.encode('cat', { onTruncate: 'ignore' } as never)).toThrow(/onTruncate/);
    expect(() => tok.encode('cat', { truncation: 'yes' } as never)).toThrow(/truncation/);
    expect(() => tok.decode([999])).toThrow(/id 999 at position 0 is not in the vocabulary/);
    expect(() => tok.decode([1], { skip: true } as never)).toThrow(OptionError);
  });
});

describe('tokenizer data validation', () => {
  const hf = (vocab: unknown, merges = TINY_MERGES, extra: object = {}) => () => ClipTokenizer.fromHf({ vocab, merges, ...extra });
  it('rejects a vocabulary that is not an object, empty, or has bad ids', () => {
    expect(hf([1, 2])).toThrow(/must be a JSON object.*got an array/);
    expect(hf(null)).toThrow(/got null/);
    expect(hf('x')).toThrow(/got string/);
    expect(hf({})).toThrow(/vocabulary is empty/);
    expect(hf({ a: -1 })).toThrow(/id of token "a"/);
    expect(hf({ a: 'x' })).toThrow(TokenizerError);
  });
  it('rejects malformed merges, missing special tokens, foreign tokenizer classes, bad configs', () => {
    expect(hf(tinyVocab(), '#version: 0.2\nc a\nnot-a-pair\n')).toThrow(/line 3: malformed merge/);
    expect(hf({ a: 0 })).toThrow(/bos token "<\|startoftext\|>" is not in the vocabulary/);
    expect(hf(tinyVocab(), TINY_MERGES, { tokenizerConfig: { tokenizer_class: 'BertTokenizer' } })).toThrow(/not a CLIP tokenizer/);
    expect(hf(tinyVocab(), TINY_MERGES, { tokenizerConfig: { model_max_length: 'x' } })).toThrow(/model_max_length/);
    expect(hf(tinyVocab(), TINY_MERGES, { specialTokensMap: { pad_token: 5 } })).toThrow(/pad_token must be a string/);
    expect(hf(tinyVocab(), TINY_MERGES, { tokenizerConfig: { errors: 'ignore' } })).toThrow(/errors/);
    expect(() => ClipTokenizer.fromHf({ vocab: tinyVocab(), merges: TINY_MERGES }, { pad: '!' } as never)).toThrow(OptionError);
  });
  it('takes special tokens from special_tokens_map over tokenizer_config, AddedToken dicts included', () => {
    const tok = ClipTokenizer.fromHf({
      vocab: tinyVocab(),
      merges: TINY_MERGES,
      tokenizerConfig: { pad_token: '<|endoftext|>', model_max_length: 5 },
      specialTokensMap: { pad_token: { content: '!', lstrip: false } },
    });
    expect(tok.padTokenId).toBe(0);
    expect(tok.modelMaxLength).toBe(5);
    expect(ClipTokenizer.fromHf({ vocab: tinyVocab(), merges: TINY_MERGES, tokenizerConfig: { model_max_length: 1e30 } }).modelMaxLength).toBe(77);
  });
});

describe('loading from files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clip-tok-'));
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(tinyVocab()));
  writeFileSync(join(dir, 'merges.txt'), TINY_MERGES);
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 6, pad_token: '!' }));
  writeFileSync(join(dir, 'broken.json'), '{"a": ');
  it('loads an HF folder and named files', async () => {
    const tok = await loadClipTokenizer(dir);
    expect(tok.encode('cat').ids).toEqual([BOS, idOf('cat</w>'), EOS, 0, 0, 0]);
    const named = await loadClipTokenizerFiles({ vocab: join(dir, 'vocab.json'), merges: join(dir, 'merges.txt') });
    expect(named.padTokenId).toBe(EOS);
  });
  it('builds the openai vocabulary from a (gzipped) bpe file: bytes, bytes</w>, merges, specials', async () => {
    const bpe = '"bpe_simple_vocab_16e6.txt#version: 0.2\nc a\nca t</w>\n';
    writeFileSync(join(dir, 'bpe.txt.gz'), gzipSync(Buffer.from(bpe)));
    const tok = await loadOpenAiClipTokenizer(join(dir, 'bpe.txt.gz'));
    expect(tok.vocab.size).toBe(256 * 2 + 2 + 2);
    expect(tok.vocab.get('!')).toBe(0);
    expect(tok.vocab.get('!</w>')).toBe(256);
    expect(tok.vocab.get('ca')).toBe(512);
    expect(tok.vocab.get('cat</w>')).toBe(513);
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId]).toEqual([514, 515, 515]);
    expect(tok.encode('cat', { padding: 'none' }).ids).toEqual([514, 513, 515]);
  });
  it('names the file in errors', async () => {
    await expect(loadClipTokenizerFiles({ vocab: join(dir, 'broken.json'), merges: join(dir, 'merges.txt') })).rejects.toThrow(/broken\.json: not valid JSON/);
    await expect(loadClipTokenizer(join(dir, 'missing'))).rejects.toThrow(TokenizerError);
    await expect(loadOpenAiClipTokenizer(join(dir, 'merges.txt'), { padToken: 'zz' })).rejects.toThrow(/pad token "zz"/);
  });
});

describe('wordToTokenIndices on a tiny vocabulary', () => {
  const tok = tiny();
  it('reference mode: exact words, positions, BOS offset, punctuation-sensitive', () => {
    expect(wordToTokenIndices(tok, 'the cat tac', 'tac')).toEqual([3, 4, 5]);
    expect(wordToTokenIndices(tok, 'the cat the', 'the')).toEqual([1, 3]);
    expect(wordToTokenIndices(tok, 'the cat', 1)).toEqual([2]);
    expect(wordToTokenIndices(tok, 'the cat,', 'cat')).toEqual([]);
    expect(wordToTokenIndices(tok, 'The cat', 'the')).toEqual([]); // case-sensitive words
  });
  it('robust mode: case-insensitive, punctuation attached to words ignored, any whitespace', () => {
    expect(wordToTokenIndices(tok, 'the cat, the', 'cat', { mode: 'robust' })).toEqual([2]);
    expect(wordToTokenIndices(tok, 'The\t cat', 'the', { mode: 'robust' })).toEqual([1]);
    expect(wordToTokenIndices(tok, 'the  cat', 1, { mode: 'robust' })).toEqual([2]);
  });
  it('rejects bad arguments with typed errors', () => {
    expect(() => wordToTokenIndices(tok, 'the cat', 'cat', { mode: 'fuzzy' } as never)).toThrow(OptionError);
    expect(() => wordToTokenIndices(tok, 'the cat', 'cat', { exact: true } as never)).toThrow(OptionError);
    expect(() => wordToTokenIndices(tok, 5 as never, 'cat')).toThrow(TokenizerError);
    expect(() => wordToTokenIndices(tok, 'the cat', 1.5)).toThrow(TokenizerError);
    expect(() => wordToTokenIndices(tok, 'the cat', 'the cat', { mode: 'robust' })).toThrow(/one non-empty word/);
  });
});
