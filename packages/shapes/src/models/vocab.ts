/**
 * The shapes world's tokenizer: a byte-level BPE vocabulary learnt from the captions (merges picked by pair
 * frequency, as BPE is trained), written in the Hugging Face CLIP format (`vocab.json`, `merges.txt`,
 * `tokenizer_config.json`, `special_tokens_map.json`) so that semedit's ordinary `loadClipTokenizer` reads it.
 * Training runs until every caption word is one token, so a prompt edit that swaps one word for another swaps one
 * token for one token, as Prompt-to-Prompt's replace edit wants.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { basicClean, byteCharsInVocabOrder, byteEncode, ClipTokenizer, preTokenize, WORD_END } from '@semedit/core/tokenizer';
import { captionOf, captionVariants } from '../world/caption.js';
import { sceneAt } from '../world/scene.js';

/** The longest prompt the shapes models read, in tokens with the two specials (two-object captions are ~24). */
export const SHAPES_MAX_TOKENS = 32;

/**
 * A learnt vocabulary: token strings by id and the ranked merges.
 *
 * @example
 * ```ts
 * const v = buildShapesVocab();
 * v.vocab['red</w>'] !== undefined; // true
 * ```
 */
export interface ShapesVocab {
  vocab: Record<string, number>;
  merges: [string, string][];
}

/** Words of a caption as CLIP's own cleanup and pre-tokenizer split it. */
function words(caption: string): string[] {
  return preTokenize(basicClean(caption)).map((p) => p.text);
}

/** Word frequencies over a fixed corpus: every template of `corpusScenes` training scenes. */
function corpus(corpusScenes: number): Map<string, number> {
  const freq = new Map<string, number>();
  for (let i = 0; i < corpusScenes; i++) {
    const scene = sceneAt(0, i, { split: 'train', twoObjects: 0.3 });
    for (let v = 0; v < captionVariants(scene.objects.length); v++) {
      for (const w of words(captionOf(scene, v))) freq.set(w, (freq.get(w) ?? 0) + 1);
    }
  }
  return freq;
}

/**
 * Learns the BPE merges from the captions: repeatedly merges the most frequent adjacent pair (ties broken by the
 * pair's text, so the result is deterministic) until every word is one symbol. The vocabulary is CLIP's layout:
 * the 256 byte characters, the same with `</w>`, one entry per merge, then `<|startoftext|>` and `<|endoftext|>`.
 *
 * @param corpusScenes how many training scenes' captions to count words over (default 2000)
 * @example
 * ```ts
 * const { vocab, merges } = buildShapesVocab();
 * merges.length; // 93: every caption word is then one token
 * ```
 */
export function buildShapesVocab(corpusScenes = 2000): ShapesVocab {
  const freq = corpus(corpusScenes);
  const split = new Map<string, string[]>();
  for (const w of freq.keys()) {
    const chars = [...byteEncode(w)];
    chars[chars.length - 1] += WORD_END;
    split.set(w, chars);
  }
  const merges: [string, string][] = [];
  for (;;) {
    const pairs = new Map<string, number>();
    for (const [w, syms] of split) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + freq.get(w)!);
      }
    }
    if (pairs.size === 0) break;
    let best = '', bestCount = -1;
    for (const [k, c] of pairs) if (c > bestCount || (c === bestCount && k < best)) [best, bestCount] = [k, c];
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    for (const syms of split.values()) {
      for (let i = 0; i + 1 < syms.length; i++) {
        if (syms[i] === a && syms[i + 1] === b) syms.splice(i, 2, a + b);
      }
    }
  }
  const tokens = [...byteCharsInVocabOrder()];
  tokens.push(...tokens.map((c) => c + WORD_END));
  for (const [a, b] of merges) tokens.push(a + b);
  tokens.push('<|startoftext|>', '<|endoftext|>');
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    vocab[t] ??= i;
  });
  return { vocab, merges };
}

/**
 * Writes the vocabulary as an HF CLIP tokenizer folder (SD 1.x specials: pad with `<|endoftext|>`), with
 * `model_max_length` {@link SHAPES_MAX_TOKENS}.
 *
 * @param dir   the folder (created)
 * @param vocab the vocabulary (default: {@link buildShapesVocab})
 * @example
 * ```ts
 * await writeShapesTokenizer('weights/sd/tokenizer');
 * const tok = await loadClipTokenizer('weights/sd/tokenizer');
 * ```
 */
export async function writeShapesTokenizer(dir: string, vocab: ShapesVocab = buildShapesVocab()): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files = tokenizerFiles(vocab);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
}

const SPECIAL = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>' };

/** The HF tokenizer folder's files, by name. */
function tokenizerFiles(vocab: ShapesVocab): Record<string, string> {
  return {
    'vocab.json': `${JSON.stringify(vocab.vocab)}\n`,
    'merges.txt': `#version: 0.2 - shapes world BPE\n${vocab.merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`,
    'special_tokens_map.json': `${JSON.stringify(SPECIAL, null, 2)}\n`,
    'tokenizer_config.json': `${JSON.stringify({ tokenizer_class: 'CLIPTokenizer', model_max_length: SHAPES_MAX_TOKENS, do_lower_case: true, errors: 'replace', ...SPECIAL }, null, 2)}\n`,
  };
}

/**
 * The shapes tokenizer in memory, exactly as {@link writeShapesTokenizer}'s folder loads.
 *
 * @example
 * ```ts
 * shapesTokenizer().encode('a big red circle', { padding: 'none' }).ids.length; // 6
 * ```
 */
export function shapesTokenizer(vocab: ShapesVocab = buildShapesVocab()): ClipTokenizer {
  const f = tokenizerFiles(vocab);
  return ClipTokenizer.fromHf({
    vocab: JSON.parse(f['vocab.json']!), merges: f['merges.txt']!, tokenizerConfig: JSON.parse(f['tokenizer_config.json']!), specialTokensMap: JSON.parse(f['special_tokens_map.json']!),
  });
}
