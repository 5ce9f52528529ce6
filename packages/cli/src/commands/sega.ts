/**
 * `semedit sega --model DIR --prompt TEXT --add CONCEPT --remove CONCEPT …`: SEGA semantic guidance on Stable
 * Diffusion. Writes the edited image, a side-by-side with the unedited run from the same seed, and the settings
 * as JSON; `--json` prints the report.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { writeGrid, writeImageTensor } from '@semedit/core/image';
import { loadStableDiffusion, runTextToImage } from '@semedit/core/pipeline';
// The lead switches this to '@semedit/edit' once the package index exports SEGA.
import { SEGA_DEFAULTS, runSega, type SegaConceptInput } from '@semedit/edit';
import { optString, parseCommandArgs, type OptionSpec } from '../args.js';
import { progressBar } from '../progress.js';
import type { Command } from './command.js';
import { checkOutputFile } from '../outputs.js';

/** One concept as the settings JSON records it. */
export interface SegaConceptReport {
  prompt: string;
  direction: 'add' | 'remove';
  scale: number;
  threshold: number;
  warmup: number;
  cooldown: number | null;
  weight: number;
}

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
  model: { type: 'string' }, prompt: { type: 'string' }, negative: { type: 'string' },
  add: { type: 'string', multiple: true }, remove: { type: 'string', multiple: true },
  scale: { type: 'string', multiple: true }, threshold: { type: 'string', multiple: true },
  warmup: { type: 'string', multiple: true }, cooldown: { type: 'string', multiple: true }, weight: { type: 'string', multiple: true },
  momentum: { type: 'string' }, 'mom-beta': { type: 'string' }, cfg: { type: 'string', default: '7.5' },
  steps: { type: 'string', default: '50' }, seed: { type: 'string', default: '0' }, height: { type: 'string' }, width: { type: 'string' },
  'concept-chunk': { type: 'string' }, 'config-dir': { type: 'string' }, scheduler: { type: 'string' }, out: { type: 'string', default: 'out/sega.png' },
  json: { type: 'boolean', default: false },
};

function num(name: string, v: unknown, int: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n))) {
    throw new OptionError(name, `must be ${int ? 'an integer' : 'a number'}, got "${String(v)}"`);
  }
  return n;
}

/** A repeatable per-concept option: none, one value for every concept, or exactly one per concept in order. */
function perConcept(name: string, v: unknown, count: number, int: boolean): (number | undefined)[] {
  const list = v === undefined ? [] : (v as string[]);
  if (list.length > 1 && list.length !== count) {
    throw new OptionError(name, `was given ${list.length} times for ${count} concepts: give it once (for all) or once per concept, in --add/--remove order`);
  }
  return Array.from({ length: count }, (_, i) => num(name, list.length === 1 ? list[0] : list[i], int));
}

/** The --add/--remove values in command-line order. */
function conceptsInOrder(argv: string[]): { prompt: string; direction: 'add' | 'remove' }[] {
  const { tokens } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  return tokens.flatMap((t) => (t.kind === 'option' && (t.name === 'add' || t.name === 'remove') ? [{ prompt: t.value ?? '', direction: t.name }] : []));
}

/** `semedit sega --model DIR --prompt TEXT [--add C] [--remove C] [options]`. */
export const segaCommand: Command = {
  usage: 'sega --model <dir|file> --prompt TEXT [--add CONCEPT]... [--remove CONCEPT]... [--scale S]... [--threshold T]... [--warmup N]... [--cooldown N]... [--weight W]... [--momentum S] [--mom-beta B] [--cfg S] [--negative TEXT] [--steps N] [--seed N] [--height H --width W] [--concept-chunk N] [--config-dir DIR] [--scheduler NAME] [--out FILE] [--json]',
  summary: 'SEGA semantic guidance: add or remove concepts; writes the edit, a side-by-side with the unedited run, and the settings',
  async run(argv) {
    const { values, positionals } = parseCommandArgs('sega', argv, OPTIONS);
    if (positionals.length > 0) throw new OptionError('sega', `takes no positional arguments (got "${positionals[0]}"); give the model with --model`);
    const model = values['model'];
    if (typeof model !== 'string') throw new OptionError('model', 'is required (a diffusers folder or a checkpoint file)');
    const prompt = values['prompt'];
    if (typeof prompt !== 'string') throw new OptionError('prompt', 'is required');
    const order = conceptsInOrder(argv);
    if (order.length === 0) throw new OptionError('add', 'give at least one --add or --remove concept');
    order.forEach((c, i) => { if (c.prompt.trim() === '') throw new OptionError(c.direction, `concept ${i} is empty`); });
    const n = order.length;
    const [scales, thresholds, warmups, cooldowns, weights] = [
      perConcept('scale', values['scale'], n, false), perConcept('threshold', values['threshold'], n, false),
      perConcept('warmup', values['warmup'], n, true), perConcept('cooldown', values['cooldown'], n, true), perConcept('weight', values['weight'], n, false),
    ];
    const concepts: SegaConceptInput[] = order.map((c, i) => ({
      prompt: c.prompt, reverse: c.direction === 'remove',
      ...(scales[i] !== undefined ? { scale: scales[i] } : {}), ...(thresholds[i] !== undefined ? { threshold: thresholds[i] } : {}),
      ...(warmups[i] !== undefined ? { warmup: warmups[i] } : {}), ...(cooldowns[i] !== undefined ? { cooldown: cooldowns[i] } : {}),
      ...(weights[i] !== undefined ? { weight: weights[i] } : {}),
    }));
    const steps = num('steps', values['steps'], true)!;
    const seed = num('seed', values['seed'], true)!;
    const guidanceScale = num('cfg', values['cfg'], false)!;
    const momentumScale = num('momentum', values['momentum'], false) ?? SEGA_DEFAULTS.momentumScale;
    const momBeta = num('mom-beta', values['mom-beta'], false) ?? SEGA_DEFAULTS.momBeta;
    const height = num('height', values['height'], true);
    const width = num('width', values['width'], true);
    const chunk = num('concept-chunk', values['concept-chunk'], true);
    const negative = typeof values['negative'] === 'string' ? values['negative'] : undefined;
    if (guidanceScale <= 1) throw new OptionError('cfg', `SEGA needs classifier-free guidance > 1 (got ${guidanceScale}); at <= 1 diffusers silently drops every edit`);
    // Every output is checked before any loading or computing: the edit, its comparison and the settings.
    const out = await checkOutputFile('--out', String(values['out']), [model]);
    const stem = out.slice(0, out.length - extname(out).length);
    const outputs = { edited: out, compare: `${stem}.compare.png`, settings: `${stem}.json` };
    for (const p of [outputs.compare, outputs.settings]) await checkOutputFile('--out', p, [model]);
    const start = Date.now();
    const backend = await initBackend();
    const sd = await loadStableDiffusion(model, { configDir: optString(values['config-dir']), sampler: optString(values['scheduler']) });
    const common = {
      prompt, numInferenceSteps: steps, guidanceScale, seed, ...(negative !== undefined ? { negativePrompt: negative } : {}),
      ...(height !== undefined ? { height } : {}), ...(width !== undefined ? { width } : {}),
    };
    const bar = progressBar('unedited + SEGA', 2 * steps);
    const owned: tf.Tensor[] = [];
    try {
      const plain = await runTextToImage(sd, { ...common, onProgress: () => bar.tick() });
      owned.push(plain.latents, plain.images);
      const edited = await runSega(sd, {
        ...common, concepts, momentumScale, momBeta, recordGuidance: false,
        ...(chunk !== undefined ? { conceptChunk: chunk } : {}), onProgress: () => bar.tick(),
      });
      owned.push(edited.latents, edited.images);
      bar.done();
      for (const t of edited.truncated) process.stderr.write(`warning: ${t.prompt} is longer than the model's limit; dropped ${t.droppedTokens} tokens: "${t.droppedText}"\n`);
      await mkdir(dirname(out), { recursive: true });
      await writeImageTensor(outputs.edited, edited.images, { range: '0-1' });
      const pair = tf.concat([plain.images, edited.images]) as tf.Tensor4D; // one image each: [unedited, edited]
      owned.push(pair);
      await writeGrid(outputs.compare, pair, { range: '0-1', cols: 2, labels: ['unedited', 'SEGA'], background: 255 });
      const [, h, w] = edited.images.shape;
      const report: SegaReport = {
        backend: backend.name, model, prompt, negativePrompt: negative ?? null, seed, steps, guidanceScale, momentumScale, momBeta,
        size: [h, w],
        concepts: order.map((c, i) => ({
          prompt: c.prompt, direction: c.direction, scale: scales[i] ?? SEGA_DEFAULTS.scale, threshold: thresholds[i] ?? SEGA_DEFAULTS.threshold,
          warmup: warmups[i] ?? SEGA_DEFAULTS.warmup, cooldown: cooldowns[i] ?? null, weight: weights[i] ?? SEGA_DEFAULTS.weight,
        })),
        outputs, ms: Date.now() - start,
      };
      await writeFile(outputs.settings, `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(values['json'] ? `${JSON.stringify(report, null, 2)}\n` : `wrote ${outputs.edited}, ${outputs.compare}, ${outputs.settings} (${report.ms} ms on ${backend.name})\n`);
      return 0;
    } finally {
      tf.dispose(owned);
      sd.dispose();
    }
  },
};
