/**
 * `semedit sega --model DIR --prompt TEXT --add CONCEPT --remove CONCEPT …`: SEGA semantic guidance on Stable
 * Diffusion. Writes the edited image, a side-by-side with the unedited run from the same seed, and the settings
 * as JSON; `--json` prints the report.
 * @module
 */
import { dirname, extname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { writeGrid, writeImageTensor } from '@semedit/core/image';
import { loadStableDiffusion, runTextToImage } from '@semedit/core/pipeline';
import { runSega } from '@semedit/edit';
import { SEGA_FLAGS, parseSegaFlags, type SegaConceptReport } from './sega-flags.js';
import { optString, parseCommandArgs, type OptionSpec, numberOption } from '../args.js';
import { progressBar } from '../progress.js';
import { generationFlags, sdLoadOptions } from '../sd-options.js';
import type { Command } from './command.js';
import { checkOutputFile, withOutputs } from '../outputs.js';

export type { SegaConceptReport } from './sega-flags.js';

/** The settings JSON written next to the image and printed by `semedit sega --json` (a contract). */
export interface SegaReport {
  backend: string;
  model: string;
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  steps: number;
  guidanceScale: number;
  momentumScale: number;
  momBeta: number;
  size: [number, number];
  concepts: SegaConceptReport[];
  /** Paths written: the edited image, the side-by-side (unedited | edited), this settings file. */
  outputs: { edited: string; compare: string; settings: string };
  ms: number;
}

const OPTIONS: OptionSpec = {
  model: { type: 'string' }, prompt: { type: 'string' }, negative: { type: 'string' }, ...SEGA_FLAGS, cfg: { type: 'string', default: '7.5' },
  steps: { type: 'string', default: '50' }, seed: { type: 'string', default: '0' }, height: { type: 'string' }, width: { type: 'string' },
  'config-dir': { type: 'string' }, scheduler: { type: 'string' }, out: { type: 'string', default: 'out/sega.png' },
  json: { type: 'boolean', default: false },
};

/** `semedit sega --model DIR --prompt TEXT [--add C] [--remove C] [options]`. */
export const segaCommand: Command = {
  usage: 'sega --model <dir|file> --prompt TEXT [--add CONCEPT]... [--remove CONCEPT]... [--scale S]... [--threshold T]... [--warmup N]... [--cooldown N]... [--weight W]... [--momentum S] [--mom-beta B] [--cfg S] [--negative TEXT] [--steps N] [--seed N] [--height H --width W] [--concept-chunk N] [--config-dir DIR] [--scheduler NAME] [--out FILE] [--json]',
  summary: 'SEGA semantic guidance: add or remove concepts; writes the edit, a side-by-side with the unedited run, and the settings',
  async run(argv) {
    const { values, positionals, order } = parseCommandArgs('sega', argv, OPTIONS);
    const { model, prompt, steps, seed, guidanceScale, height, width, negative } = generationFlags('sega', values, positionals);
    const sega = parseSegaFlags(order, values, { steps, cfg: guidanceScale }, true)!;
    const { momentumScale, momBeta } = sega;
    // Every output is checked before any loading or computing: the edit, its comparison and the settings.
    const loadOpts = sdLoadOptions(model, values);
    const out = await checkOutputFile('--out', String(values['out']), [model]);
    const stem = out.slice(0, out.length - extname(out).length);
    const outputs = { edited: out, compare: `${stem}.compare.png`, settings: `${stem}.json` };
    for (const p of [outputs.compare, outputs.settings]) await checkOutputFile('--out', p, [model]);
    const start = Date.now();
    const backend = await initBackend();
    const sd = await loadStableDiffusion(model, loadOpts);
    const common = { prompt, numInferenceSteps: steps, guidanceScale, seed, negativePrompt: negative, height, width };
    const bar = progressBar('unedited + SEGA', 2 * steps);
    const owned: tf.Tensor[] = [];
    try {
      const plain = await runTextToImage(sd, { ...common, onProgress: () => bar.tick() });
      owned.push(plain.latents, plain.images);
      const edited = await runSega(sd, { ...common, ...sega.edit, onProgress: () => bar.tick() });
      owned.push(edited.latents, edited.images);
      bar.done();
      for (const w of edited.warnings) process.stderr.write(`warning: ${w}\n`);
      for (const t of edited.truncated) process.stderr.write(`warning: ${t.prompt} is longer than the model's limit; dropped ${t.droppedTokens} tokens: "${t.droppedText}"\n`);
      const pair = tf.concat([plain.images, edited.images]) as tf.Tensor4D; // one image each: [unedited, edited]
      owned.push(pair);
      const [, h, w] = edited.images.shape;
      const report: SegaReport = {
        backend: backend.name, model, prompt, negativePrompt: negative ?? null, seed, steps, guidanceScale, momentumScale, momBeta,
        size: [h, w], concepts: sega.report, outputs, ms: Date.now() - start,
      };
      // All three files or none: each is staged beside its place and moved in only when every one is written.
      await withOutputs('--out', async (outs) => {
        await writeImageTensor(await outs.stage(outputs.edited), edited.images, { range: '0-1' });
        await writeGrid(await outs.stage(outputs.compare), pair, { range: '0-1', cols: 2, labels: ['unedited', 'SEGA'], background: 255 });
        await outs.write(outputs.settings, `${JSON.stringify(report, null, 2)}\n`);
      });
      process.stdout.write(values['json'] ? `${JSON.stringify(report, null, 2)}\n` : `wrote ${outputs.edited}, ${outputs.compare}, ${outputs.settings} (${report.ms} ms on ${backend.name})\n`);
      return 0;
    } finally {
      tf.dispose(owned);
      sd.dispose();
    }
  },
};
