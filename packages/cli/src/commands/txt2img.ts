/**
 * `semedit txt2img <model> --prompt TEXT`: Stable Diffusion text-to-image from a diffusers folder or a single-file
 * checkpoint, with a progress bar; writes PNGs (a grid when several) and prints a JSON report with `--json`.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { writeImageTensor } from '@semedit/core/image';
import { loadStableDiffusion, runTextToImage } from '@semedit/core/pipeline';
import { optString, parseCommandArgs, numberOption } from '../args.js';
import { progressBar } from '../progress.js';
import { sdLoadOptions } from '../sd-options.js';
import type { Command } from './command.js';
import { checkOutputFile } from '../outputs.js';

/** The JSON report of `semedit txt2img --json` (a contract). */
export interface Txt2ImgReport {
  backend: string;
  model: string;
  prompt: string;
  steps: number;
  guidanceScale: number;
  seed: number;
  /** The diffusers class of the sampler that ran (the folder's, or `--scheduler`'s). */
  scheduler: string;
  size: [number, number];
  images: string[];
  truncated: { index: number; droppedTokens: number; droppedText: string }[];
  ms: number;
}

/** `semedit txt2img <model> --prompt TEXT [options]`. */
export const txt2imgCommand: Command = {
  usage: 'txt2img <model> --prompt TEXT [--negative TEXT] [--steps N] [--scale S] [--seed N] [--height H --width W] [--images N] [--config-dir DIR] [--scheduler NAME] [--out FILE] [--strict-length] [--json]',
  summary: 'Stable Diffusion text-to-image from a diffusers folder or a single-file checkpoint',
  async run(argv) {
    const { values, positionals } = parseCommandArgs('txt2img', argv, {
      prompt: { type: 'string' }, negative: { type: 'string' }, steps: { type: 'string', default: '50' },
      scale: { type: 'string', default: '7.5' }, seed: { type: 'string', default: '0' }, height: { type: 'string' },
      width: { type: 'string' }, images: { type: 'string', default: '1' }, 'config-dir': { type: 'string' }, scheduler: { type: 'string' },
      out: { type: 'string', default: 'out/txt2img.png' }, 'strict-length': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    });
    const [model] = positionals;
    if (!model || positionals.length !== 1) throw new OptionError('txt2img', 'expects one <model> (a diffusers folder or a checkpoint file)');
    const prompt = values['prompt'];
    if (typeof prompt !== 'string') throw new OptionError('prompt', 'is required');
    const steps = numberOption('steps', values['steps'], { int: true })!;
    const guidanceScale = numberOption('scale', values['scale'])!;
    const seed = numberOption('seed', values['seed'], { int: true })!;
    const height = numberOption('height', values['height'], { int: true });
    const width = numberOption('width', values['width'], { int: true });
    const images = numberOption('images', values['images'], { int: true })!;
    if (steps < 1) throw new OptionError('steps', `must be a positive integer, got ${steps}`);
    if (images < 1) throw new OptionError('images', `must be a positive integer, got ${images}`);
    const loadOpts = sdLoadOptions(model, values);
    const out = await checkOutputFile('--out', String(values['out']), [model]); // before any loading or computing
    const start = Date.now();
    const backend = await initBackend();
    const sd = await loadStableDiffusion(model, loadOpts);
    const bar = progressBar('denoising', sd.scheduler.setTimesteps(steps).timesteps.length); // model calls (Heun: 2 per step)
    try {
      const negative = values['negative'];
      const r = await runTextToImage(sd, {
        prompt, numInferenceSteps: steps, guidanceScale, seed, numImagesPerPrompt: images,
        negativePrompt: optString(negative),
        height, width,
        onTruncate: values['strict-length'] ? 'error' : 'warn',
        onProgress: () => bar.tick(),
      });
      bar.done();
      for (const t of r.truncated) {
        process.stderr.write(`warning: prompt ${t.index} is longer than the model's limit; dropped ${t.droppedTokens} tokens: "${t.droppedText}"\n`);
      }
      await mkdir(dirname(out), { recursive: true });
      const written = await writeImageTensor(out, r.images, { range: '0-1', grid: r.images.shape[0] > 1 });
      const [, h, w] = r.images.shape;
      tf.dispose([r.latents, r.images]);
      const report: Txt2ImgReport = {
        backend: backend.name, model, prompt, steps, guidanceScale, seed, scheduler: sd.scheduler.className, size: [h, w], images: written,
        truncated: r.truncated.map(({ index, droppedTokens, droppedText }) => ({ index, droppedTokens, droppedText })), ms: Date.now() - start,
      };
      process.stdout.write(values['json'] ? `${JSON.stringify(report, null, 2)}\n` : `wrote ${written.join(', ')} (${report.ms} ms on ${backend.name})\n`);
      return 0;
    } finally {
      sd.dispose();
    }
  },
};
