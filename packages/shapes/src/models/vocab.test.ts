/**
 * The shapes tokenizer: learnt deterministically; every caption word is one token (so a word swap is a token
 * swap); the folder it writes is an HF CLIP tokenizer that semedit's ordinary loader reads, giving the same ids as
 * the in-memory one; CLIP's vocabulary layout (bytes, bytes with `</w>`, merges, specials last); prompts fit.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClipTokenizer } from '@semedit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { captionOf, captionVariants } from '../world/caption.js';
import { COLOUR_NAMES, SHAPES, SIZES, sceneAt } from '../world/scene.js';
import { buildShapesVocab, SHAPES_MAX_TOKENS, shapesTokenizer, writeShapesTokenizer } from './vocab.js';

const dir = mkdtempSync(join(tmpdir(), 'semedit-vocab-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('shapes BPE vocabulary', () => {
  const vocab = buildShapesVocab();
  const tok = shapesTokenizer(vocab);

  it('is deterministic and laid out as CLIP: 512 byte tokens, one per merge, then the two specials', () => {
    expect(buildShapesVocab()).toEqual(vocab);
    const size = Object.keys(vocab.vocab).length;
    expect(size).toBe(512 + vocab.merges.length + 2);
    expect(vocab.vocab['<|startoftext|>']).toBe(size - 2);
    expect(vocab.vocab['<|endoftext|>']).toBe(size - 1);
    expect(vocab.vocab['a</w>']).toBe(320); // as in OpenAI's vocabulary: 'a' is the 65th byte character
  });

  it('makes every attribute word and every word of every caption template one token', () => {
    const words = new Set<string>([...SHAPES, ...COLOUR_NAMES, ...SIZES]); // positions are phrases ('in the middle')
    for (let i = 0; i < 200; i++) {
      const scene = sceneAt(3, i, { twoObjects: 0.5 });
      for (let v = 0; v < captionVariants(scene.objects.length); v++) for (const w of captionOf(scene, v).match(/[a-z]+/g)!) words.add(w);
    }
    for (const w of words) expect(tok.tokenize(w), w).toEqual([`${w}</w>`]);
    expect(tok.tokenize('blue background, red star')).toEqual(['blue</w>', 'background</w>', ',</w>', 'red</w>', 'star</w>']);
  });

  it('writes an HF tokenizer folder that loadClipTokenizer reads to the same ids, with model_max_length', async () => {
    await writeShapesTokenizer(join(dir, 'tok'), vocab);
    const loaded = await loadClipTokenizer(join(dir, 'tok'));
    expect(loaded.modelMaxLength).toBe(SHAPES_MAX_TOKENS);
    expect(readFileSync(join(dir, 'tok', 'merges.txt'), 'utf8').split('\n')[0]).toMatch(/^#version/);
    for (let i = 0; i < 50; i++) {
      const caption = captionOf(sceneAt(4, i, { twoObjects: 0.5 }), 0);
      expect(loaded.encode(caption).ids).toEqual(tok.encode(caption).ids);
      expect(loaded.decode(loaded.encode(caption).ids, { skipSpecialTokens: true })).toBe(caption);
    }
  });

  it('fits the longest two-object caption, and a word outside the world falls back to bytes', () => {
    let longest = 0;
    for (let i = 0; i < 300; i++) {
      const scene = sceneAt(5, i, { twoObjects: 1 });
      for (let v = 0; v < captionVariants(2); v++) longest = Math.max(longest, tok.encode(captionOf(scene, v), { padding: 'none' }).ids.length);
    }
    expect(longest).toBeLessThanOrEqual(SHAPES_MAX_TOKENS);
    expect(tok.tokenize('zebra').length).toBeGreaterThan(1);
    expect(tok.decode(tok.encode('a zebra').ids, { skipSpecialTokens: true })).toBe('a zebra');
  });
});
