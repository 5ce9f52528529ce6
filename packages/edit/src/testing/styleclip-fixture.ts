/**
 * Test support for the StyleCLIP step-by-step fixtures (not built or exported): the models a fixture's components
 * name, and the CLIP loss its config.json describes (tokens as `clip.tokenize` makes them, folded into the tiny
 * vocabulary; the pool kernel; the nearest-neighbour upsampling factor).
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { ClipTokenizer } from '@semedit/core';
import { loadOpenAiClip, loadOpenAiClipTokenizer, type ClipModel } from '@semedit/core/clip';
import { foldTokenIds, parseTokenFold, readManifest, type FixtureManifest } from '@semedit/core/testing';
import { clipTokenize, ClipTextLoss } from '../styleclip/clip-loss.js';
import type { StyleGan2Like } from '../styleclip/stylespace.js';

/** The CLIP-loss part of a StyleCLIP fixture's config.json. */
export interface FixtureClipLossConfig {
  clip_loss: { upsample: string; avgpool_kernel: number; clip_input_size: number };
  token_fold: Record<string, unknown>;
}

const stylegan2Module = '@semedit/core/stylegan2';

/**
 * Loads the generator and CLIP a fixture's components name, and the clip-tokenizer fixture's OpenAI BPE tokenizer.
 *
 * @param m the StyleCLIP fixture (components `generator`, `clip`)
 */
export async function loadStyleclipFixtureModels(m: FixtureManifest): Promise<{ G: StyleGan2Like & { dispose(): void }; clip: ClipModel; tokenizer: ClipTokenizer }> {
  const genM = readManifest(m.components['generator']!);
  const clipM = readManifest(m.components['clip']!);
  const tokM = readManifest('clip-tokenizer');
  const { loadNvlabsGenerator } = (await import(stylegan2Module)) as {
    loadNvlabsGenerator(path: string, opts: { kwargs: unknown }): Promise<StyleGan2Like & { dispose(): void }>;
  };
  const genCfg = JSON.parse(await readFile(genM.files['config']!, 'utf8')) as { kwargs: unknown };
  const G = await loadNvlabsGenerator(genM.files['weights']!, { kwargs: genCfg.kwargs });
  const clip = await loadOpenAiClip(clipM.files['weights']!);
  const tokenizer = await loadOpenAiClipTokenizer(tokM.files['openai_bpe']!);
  return { G, clip, tokenizer };
}

/** The upsampling factor of config.json's `"nearest x<factor>"`. */
function nearestFactor(id: string, spec: string): number {
  const r = /^nearest x(\d+)$/.exec(spec.trim());
  if (!r) throw new Error(`${id}: config.json clip_loss.upsample "${spec}" is not "nearest x<factor>"`);
  return Number(r[1]);
}

/**
 * The fixture's CLIP loss for `description`: the BPE ids, the ids folded into the tiny vocabulary, and the loss.
 *
 * @param m           the fixture (for messages)
 * @param cfg         its config.json
 * @param models      CLIP and tokenizer
 * @param description the text
 */
export function fixtureClipLoss(
  m: FixtureManifest, cfg: FixtureClipLossConfig, models: { clip: ClipModel; tokenizer: ClipTokenizer }, description: string,
): { bpe: number[][]; folded: number[][]; loss: ClipTextLoss } {
  const bpe = clipTokenize(models.tokenizer, [description], models.clip.config.text.maxPositionEmbeddings);
  const folded = bpe.map((row) => foldTokenIds(row, parseTokenFold(cfg.token_fold)));
  const loss = new ClipTextLoss(models.clip, folded, { kernel: cfg.clip_loss.avgpool_kernel, scaleFactor: nearestFactor(m.id, cfg.clip_loss.upsample) });
  return { bpe, folded, loss };
}
