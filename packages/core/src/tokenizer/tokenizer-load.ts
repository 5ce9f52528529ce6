/**
 * Loading a CLIP tokenizer from disk (Node): an HF tokenizer folder (diffusers `tokenizer/`, an HF CLIP model
 * folder), its files named one by one, or openai's `bpe_simple_vocab_16e6.txt.gz`. Files are only read.
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TokenizerError } from './errors.js';
import { ClipTokenizer } from './tokenizer.js';
import type { ClipTokenizerOverrides, OpenAiBpeOptions } from './tokenizer-vocab.js';

/**
 * Paths of an HF tokenizer's files; the two configs are optional.
 *
 * @example
 * ```ts
 * const f: HfTokenizerPaths = { vocab: 'tok/vocab.json', merges: 'tok/merges.txt', tokenizerConfig: 'sd2/tokenizer_config.json' };
 * ```
 */
export interface HfTokenizerPaths {
  vocab: string;
  merges: string;
  tokenizerConfig?: string | undefined;
  specialTokensMap?: string | undefined;
}

/**
 * Loads a CLIP tokenizer from an HF tokenizer folder: `vocab.json` and `merges.txt` (required),
 * `tokenizer_config.json` and `special_tokens_map.json` (used when present).
 *
 * @param dir       the folder, e.g. `stable-diffusion-v1-5/tokenizer`
 * @param overrides explicit special tokens or length, winning over the files
 * @example
 * ```ts
 * const tok = await loadClipTokenizer('sd21/tokenizer');
 * tok.padTokenId; // 0 (SD2.x pads with "!")
 * ```
 */
export async function loadClipTokenizer(dir: string, overrides?: ClipTokenizerOverrides): Promise<ClipTokenizer> {
  const optional = (name: string) => (existsSync(join(dir, name)) ? join(dir, name) : undefined);
  return loadClipTokenizerFiles(
    {
      vocab: join(dir, 'vocab.json'),
      merges: join(dir, 'merges.txt'),
      tokenizerConfig: optional('tokenizer_config.json'),
      specialTokensMap: optional('special_tokens_map.json'),
    },
    overrides,
  );
}

/**
 * Loads a CLIP tokenizer from HF tokenizer files named one by one (e.g. a shared vocabulary with another
 * model's configs).
 *
 * @param paths     the files
 * @param overrides explicit special tokens or length, winning over the files
 * @example
 * ```ts
 * const tok = await loadClipTokenizerFiles({ vocab: 'v.json', merges: 'm.txt' });
 * ```
 */
export async function loadClipTokenizerFiles(paths: HfTokenizerPaths, overrides?: ClipTokenizerOverrides): Promise<ClipTokenizer> {
  const [vocab, merges, tokenizerConfig, specialTokensMap] = await Promise.all([
    readJson(paths.vocab),
    readText(paths.merges),
    paths.tokenizerConfig === undefined ? undefined : readJson(paths.tokenizerConfig),
    paths.specialTokensMap === undefined ? undefined : readJson(paths.specialTokensMap),
  ]);
  return ClipTokenizer.fromHf(
    {
      vocab,
      merges,
      tokenizerConfig,
      specialTokensMap,
      names: { vocab: paths.vocab, merges: paths.merges, tokenizerConfig: paths.tokenizerConfig, specialTokensMap: paths.specialTokensMap },
    },
    overrides,
  );
}

/**
 * Loads a CLIP tokenizer from openai's `bpe_simple_vocab_16e6.txt.gz` (or the uncompressed `.txt`), building
 * the vocabulary as `simple_tokenizer.py` does. Text normalisation stays transformers' (see `text-cleanup.ts`).
 *
 * @param path    the `.gz` (gunzipped when it starts with the gzip magic) or `.txt` file
 * @param options special tokens (default SD1.x: pad with EOS) and length (default 77)
 * @example
 * ```ts
 * const tok = await loadOpenAiClipTokenizer('clip/bpe_simple_vocab_16e6.txt.gz');
 * tok.vocab.size; // 49408
 * ```
 */
export async function loadOpenAiClipTokenizer(path: string, options: OpenAiBpeOptions = {}): Promise<ClipTokenizer> {
  const bytes = await readBytes(path);
  let text: string;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      text = gunzipSync(bytes).toString('utf8');
    } catch (e) {
      throw new TokenizerError(`cannot gunzip: ${(e as Error).message}`, { file: path });
    }
  } else {
    text = bytes.toString('utf8');
  }
  return ClipTokenizer.fromOpenAiBpe(text, { name: options.name ?? basename(path), ...options });
}

async function readBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new TokenizerError(`cannot read: ${(e as Error).message}`, { file: path });
  }
}

async function readText(path: string): Promise<string> {
  return (await readBytes(path)).toString('utf8');
}

async function readJson(path: string): Promise<unknown> {
  const text = await readText(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new TokenizerError(`not valid JSON: ${(e as Error).message}`, { file: path });
  }
}
