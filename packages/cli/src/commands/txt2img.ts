/**
 * `semedit txt2img <model> --prompt TEXT`: Stable Diffusion text-to-image from a diffusers folder or a single-file
 * checkpoint, with a progress bar; writes PNGs (a grid when several) and prints a JSON report with `--json`.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { writeImageTensor } from '@semedit/core/image';
import { loadStableDiffusion, runTextToImage } from '@semedit/core/pipeline';
import { progressBar } from '../progress.js';
import { sdLoadOptions } from '../sd-options.js';
import { defineCommand } from './command.js';
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

/** `semedit txt2img <model> --prompt TEXT [options]`, from its declared options. */
export const txt2imgCommand = defineCommand({
  name: 'txt2img',
  summary: 'Stable Diffusion text-to-image from a diffusers folder or a single-file checkpoint',
  positionals: { usage: '<model>', names: ['model'] },
  options: {
    prompt: { type: 'string', required: true, arg: 'TEXT', help: 'the prompt' },
    negative: { type: 'string', arg: 'TEXT', help: 'the negative prompt', lib: ['negativePrompt'] },
    steps: { type: 'int', min: 1, default: 50, arg: 'N', help: 'denoising steps', lib: ['numInferenceSteps'] },
    scale: { type: 'number', default: 7.5, arg: 'S', help: 'classifier-free guidance scale', lib: ['guidanceScale'] },
    seed: { type: 'int', default: 0, arg: 'N', help: 'seed of the starting noise' },
    height: { type: 'int', min: 1, arg: 'H', help: 'image height in pixels (a multiple of the VAE factor)' },
    width: { type: 'int', min: 1, arg: 'W', help: 'image width in pixels (a multiple of the VAE factor)' },
    images: { type: 'int', min: 1, default: 1, arg: 'N', help: 'images per prompt', lib: ['numImagesPerPrompt'] },
    'config-dir': { type: 'string', arg: 'DIR', help: 'configs for a single-file checkpoint (a diffusers folder)', lib: ['configDir'] },
    scheduler: { type: 'string', arg: 'NAME', help: 'sampler by name (euler-a, dpm++2m-karras, unipc, ...)', lib: ['sampler'] },
    out: { type: 'string', default: 'out/txt2img.png', arg: 'FILE', help: 'the PNG to write (a grid when several images)' },
    'strict-length': { type: 'boolean', help: 'refuse prompts over the model length instead of truncating them' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  async run({ values, positionals }) {
    const model = positionals[0]!;
    const { prompt, steps, scale: guidanceScale, seed, height, width, images } = values;
    const loadOpts = sdLoadOptions(model, values as Record<string, unknown>);
    const out = await checkOutputFile('--out', values.out, [model]); // before any loading or computing
    const start = Date.now();
    const backend = await initBackend();
    const sd = await loadStableDiffusion(model, loadOpts);
    const bar = progressBar('denoising', sd.scheduler.setTimesteps(steps).timesteps.length); // model calls (Heun: 2 per step)
    try {
      const r = await runTextToImage(sd, {
        prompt, numInferenceSteps: steps, guidanceScale, seed, numImagesPerPrompt: images, negativePrompt: values.negative, height, width,
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
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `wrote ${written.join(', ')} (${report.ms} ms on ${backend.name})\n`);
      return 0;
    } finally {
      sd.dispose();
    }
  },
});
