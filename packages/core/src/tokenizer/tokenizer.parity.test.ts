import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../fixtures/manifest.js';
import { PromptTooLongError } from './errors.js';
import type { ClipTokenizer } from './tokenizer.js';
import { loadClipTokenizer, loadClipTokenizerFiles, loadOpenAiClipTokenizer } from './tokenizer-load.js';
import { wordToTokenIndices } from './word-index.js';

interface TokenizerCase {
  text: string;
  tokens: string[];
  ids: number[];
  ids_sd1_77: number[];
  attention_mask_sd1_77: number[];
  ids_sd2_77: number[];
  attention_mask_sd2_77: number[];
  decoded: string;
}
interface CasesFile {
  bos_token_id: number;
  eos_token_id: number;
  sd1_pad_token: string;
  sd1_pad_token_id: number;
  sd2_pad_token: string;
  sd2_pad_token_id: number;
  max_length: number;
  num_cases: number;
  cases: TokenizerCase[];
}

const manifest = readManifest('clip-tokenizer');
const id = manifest.id;
const file = (key: string): string => {
  const p = manifest.files[key];
  if (!p) throw new Error(`${id}: fixture.json has no files.${key}`);
  return p;
};
const data = JSON.parse(readFileSync(file('cases'), 'utf8')) as CasesFile;
const cases = data.cases;
const label = (c: TokenizerCase) => JSON.stringify(c.text.length > 50 ? `${c.text.slice(0, 50)}…` : c.text);

let sd1: ClipTokenizer;
let sd2: ClipTokenizer;
let sd2Override: ClipTokenizer;
let openai: ClipTokenizer;

beforeAll(async () => {
  sd1 = await loadClipTokenizer(manifest.components['tokenizer'] ?? manifest.dir);
  sd2 = await loadClipTokenizerFiles({
    vocab: file('vocab'),
    merges: file('merges'),
    tokenizerConfig: file('sd2_tokenizer_config'),
    specialTokensMap: file('sd2_special_tokens_map'),
  });
  sd2Override = await loadClipTokenizerFiles(
    { vocab: file('vocab'), merges: file('merges'), tokenizerConfig: file('tokenizer_config') },
    { padToken: data.sd2_pad_token },
  );
  openai = await loadOpenAiClipTokenizer(file('openai_bpe'));
});

/** What produces each field of a case, keyed by the field named in fixture.json's checks. */
const producers: Record<string, (c: TokenizerCase) => unknown> = {
  tokens: (c) => sd1.tokenize(c.text),
  ids: (c) => sd1.encode(c.text, { padding: 'none', truncation: false }).ids,
  ids_sd1_77: (c) => sd1.encode(c.text, { maxLength: data.max_length }).ids,
  attention_mask_sd1_77: (c) => sd1.encode(c.text, { maxLength: data.max_length }).attentionMask,
  ids_sd2_77: (c) => sd2.encode(c.text, { maxLength: data.max_length }).ids,
  attention_mask_sd2_77: (c) => sd2.encode(c.text, { maxLength: data.max_length }).attentionMask,
  decoded: (c) => sd1.decode(c.ids),
};
const fieldOf = (output: string) => /^cases\[\*\]\.(\w+)$/.exec(output)?.[1];

describe(`${id}: CLIP tokenizer against transformers CLIPTokenizer`, () => {
  it(`${id}: cases.json holds num_cases cases and fixture.json's checks are all exact`, () => {
    expect(cases.length).toBe(data.num_cases);
    expect(manifest.checks.length).toBeGreaterThan(0);
    for (const check of manifest.checks) {
      expect(check.file).toBe('cases');
      expect([check.atol, check.rtol]).toEqual([0, 0]);
      expect(Object.keys(producers)).toContain(fieldOf(check.output));
    }
  });

  it(`${id}: special token ids and model length match the fixture's header`, () => {
    expect(sd1.bosTokenId).toBe(data.bos_token_id);
    expect(sd1.eosTokenId).toBe(data.eos_token_id);
    expect(sd1.padTokenId).toBe(data.sd1_pad_token_id);
    expect(sd1.vocab.get(data.sd1_pad_token)).toBe(data.sd1_pad_token_id);
    expect(sd2.padTokenId).toBe(data.sd2_pad_token_id);
    expect(sd2.vocab.get(data.sd2_pad_token)).toBe(data.sd2_pad_token_id);
    expect(sd1.modelMaxLength).toBe(data.max_length);
    expect(sd2.modelMaxLength).toBe(data.max_length);
  });

  for (const check of manifest.checks) {
    it(`${id}: ${check.output} (${check.from.slice(0, 60)})`, () => {
      const field = fieldOf(check.output)!;
      const produce = producers[field]!;
      for (const c of cases) {
        expect(produce(c), `${field} of ${label(c)}`).toEqual(c[field as keyof TokenizerCase]);
      }
    });
  }

  it(`${id}: decoding our own ids gives the reference's decoded text`, () => {
    for (const c of cases) {
      expect(sd1.decode(sd1.encode(c.text, { padding: 'none', truncation: false }).ids), label(c)).toBe(c.decoded);
    }
  });

  it(`${id}: pad_token override (from_pretrained(dir, pad_token=...)) equals the sd2/ config files`, () => {
    for (const c of cases) {
      const e = sd2Override.encode(c.text, { maxLength: data.max_length });
      expect(e.ids, label(c)).toEqual(c.ids_sd2_77);
      expect(e.attentionMask, label(c)).toEqual(c.attention_mask_sd2_77);
    }
  });
});

describe(`${id}: openai bpe_simple_vocab_16e6.txt.gz gives the same tokenizer`, () => {
  it(`${id}: the vocabulary built from the gzip equals vocab.json`, () => {
    const vocabJson = JSON.parse(readFileSync(file('vocab'), 'utf8')) as Record<string, number>;
    expect(openai.vocab.size).toBe(Object.keys(vocabJson).length);
    const differing = Object.entries(vocabJson).filter(([token, tokenId]) => openai.vocab.get(token) !== tokenId);
    expect(differing).toEqual([]);
  });

  it(`${id}: raw ids, SD1.x padded ids, masks and decoded text equal the reference on every case`, () => {
    for (const c of cases) {
      expect(openai.encode(c.text, { padding: 'none', truncation: false }).ids, label(c)).toEqual(c.ids);
      const e = openai.encode(c.text, { maxLength: data.max_length });
      expect(e.ids, label(c)).toEqual(c.ids_sd1_77);
      expect(e.attentionMask, label(c)).toEqual(c.attention_mask_sd1_77);
      expect(openai.decode(c.ids), label(c)).toBe(c.decoded);
    }
  });
});

describe(`${id}: truncation is reported, never silent`, () => {
  const max = data.max_length;
  const long = cases.filter((c) => c.ids.length > max);

  it(`${id}: the fixture has prompts over the limit`, () => {
    expect(long.length).toBeGreaterThan(0);
  });

  it(`${id}: over-long prompts report exactly the tokens the reference truncation dropped`, () => {
    for (const c of cases) {
      for (const tok of [sd1, openai]) {
        const e = tok.encode(c.text, { maxLength: max });
        if (c.ids.length <= max) {
          expect(e.truncated, label(c)).toBeUndefined();
          continue;
        }
        // The reference keeps BOS + the first max-2 content tokens + EOS; everything between is dropped.
        const droppedIds = c.ids.slice(max - 1, -1);
        expect(e.truncated?.droppedTokens, label(c)).toBe(droppedIds.length);
        expect(e.truncated?.droppedText, label(c)).toBe(sd1.decode(droppedIds, { skipSpecialTokens: false }));
      }
    }
  });

  it(`${id}: onTruncate 'error' throws PromptTooLongError only for over-long prompts`, () => {
    for (const c of cases) {
      const run = () => sd1.encode(c.text, { maxLength: max, onTruncate: 'error' });
      if (c.ids.length > max) {
        expect(run, label(c)).toThrow(PromptTooLongError);
        try {
          run();
        } catch (e) {
          expect((e as PromptTooLongError).tokenCount).toBe(c.ids.length);
          expect((e as PromptTooLongError).droppedTokens).toBe(c.ids.length - max);
        }
      } else {
        expect(run().ids, label(c)).toEqual(c.ids_sd1_77);
      }
    }
  });

  it(`${id}: truncation without padding keeps EOS last; truncation off returns every token`, () => {
    for (const c of long) {
      const e = sd1.encode(c.text, { maxLength: max, padding: 'none' });
      expect(e.ids, label(c)).toEqual(c.ids_sd1_77);
      expect(sd1.encode(c.text, { maxLength: max, truncation: false }).ids, label(c)).toEqual(c.ids);
    }
  });
});

describe(`${id}: Prompt-to-Prompt word → token indices (algorithms.md §1.2.9 golden vectors)`, () => {
  // Literal golden vectors from algorithms.md §1.2.9 (prompt, word, token ids with BOS/EOS, indices).
  const golden: [string, string, number[] | undefined, number[]][] = [
    ['A painting of a squirrel eating a burger', 'squirrel', [49406, 320, 3086, 539, 320, 14004, 4371, 320, 6548, 49407], [5]],
    ['a smiling bunny doll', 'smiling', [49406, 320, 9200, 9258, 9286, 49407], [2]],
    ['pea soup with croutons', 'croutons', undefined, [4, 5, 6]],
    ['a photo of a hippopotamus', 'hippopotamus', undefined, [5, 6, 7]],
    ['A painting of a squirrel eating a burger.', 'burger', undefined, []],
  ];
  for (const [prompt, word, ids, inds] of golden) {
    it(`${id}: "${prompt}" / "${word}" → [${inds.join(', ')}] (reference mode)`, () => {
      if (ids) expect(sd1.encode(prompt, { padding: 'none' }).ids).toEqual(ids);
      expect(wordToTokenIndices(sd1, prompt, word)).toEqual(inds);
    });
  }

  it(`${id}: golden token ids of the multi-token words`, () => {
    // §1.2.9: croutons = 1075 1130 708, then EOS; hippopotamus = 28398 45825 718.
    expect(sd1.encode('pea soup with croutons', { padding: 'none' }).ids.slice(-5)).toEqual([593, 1075, 1130, 708, 49407]);
    expect(sd1.encode('a photo of a hippopotamus', { padding: 'none' }).ids.slice(1, -1)).toEqual([320, 1125, 539, 320, 28398, 45825, 718]);
    expect(sd1.encode('A painting of a squirrel eating a burger.', { padding: 'none' }).ids.slice(-3)).toEqual([6548, 269, 49407]);
  });

  it(`${id}: robust mode finds "burger" in "burger." without the period's token`, () => {
    const prompt = 'A painting of a squirrel eating a burger.';
    expect(wordToTokenIndices(sd1, prompt, 'burger', { mode: 'robust' })).toEqual([8]);
    expect(wordToTokenIndices(sd1, prompt, 'Burger', { mode: 'robust' })).toEqual([8]);
    expect(wordToTokenIndices(sd1, 'pea soup with (croutons)', 'croutons', { mode: 'robust' })).toEqual([5, 6, 7]);
    // The golden cases without punctuation give the reference's answer in both modes.
    expect(wordToTokenIndices(sd1, 'pea soup with croutons', 'croutons', { mode: 'robust' })).toEqual([4, 5, 6]);
    expect(wordToTokenIndices(sd1, 'a photo of a hippopotamus', 4, { mode: 'robust' })).toEqual([5, 6, 7]);
  });

  it(`${id}: robust mode's per-word tokens cover every token of every case, in order`, () => {
    for (const c of cases) {
      const words = c.text.split(/[\t\n\r\p{Zs}\u2028\u2029]+/u).filter((w) => w !== '');
      const all = words.flatMap((_, i) => wordToTokenIndices(sd1, c.text, i, { mode: 'robust' }));
      expect(all, label(c)).toEqual(c.ids.slice(1, -1).map((_, i) => i + 1));
    }
  });
});
