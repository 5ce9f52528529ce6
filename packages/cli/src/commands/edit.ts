/**
 * `semedit edit --model DIR --prompt TEXT [--target TEXT] [--add CONCEPT] [--remove CONCEPT] …`: one edit that
 * composes Prompt-to-Prompt (the edited prompt) and SEGA (concepts added or removed) in a single sampling loop, the
 * CLI face of `edit()` from `@semedit/edit`. Writes each edited image, a comparison with the unedited image from
 * the same seed, and the settings as JSON into `--out DIR`; `--json` prints the report.
 * @module
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { tensorToImages, writeGrid, writePng } from '@semedit/core/image';
import { loadStableDiffusion, runTextToImage } from '@semedit/core/pipeline';
import { runEdit, type EditOptions, type P2PEdit, type P2PMode } from '@semedit/edit';
import { optString, parseCommandArgs, type OptionSpec, numberOption } from '../args.js';
import { checkOutputDir, withOutputs } from '../outputs.js';
import { progressBar } from '../progress.js';
import { generationFlags, sdLoadOptions } from '../sd-options.js';
import type { Command } from './command.js';
import { checkPrompts, parseWeights } from './p2p.js';
import { SEGA_FLAGS, parseSegaFlags, type SegaConceptReport } from './sega-flags.js';

/** The settings and outputs of a `semedit edit` run, written as `settings.json` and printed with `--json` (a contract). */
export interface EditReport {
  backend: string;
  model: string;
  scheduler: string;
  /** One prompt per edited image: the source first, then the P2P targets. */
  prompts: string[];
  negativePrompt: string | null;
  seed: number;
  steps: number;
  guidanceScale: number;
  size: [number, number];
  /** The P2P part, when `--target` (or `--mode reweight`) was given. */
  p2p: { mode: P2PMode; crossReplaceSteps: number; selfReplaceSteps: number; wordWeights: Record<string, number>; blend: string[]; blendThreshold: number } | null;
  /** The SEGA part, when `--add`/`--remove` were given. */
  sega: { concepts: SegaConceptReport[]; momentumScale: number; momBeta: number } | null;
  /** Notes from the run (concepts that could not act, truncated prompts). */
  warnings: string[];
  /** Written files: the unedited image, each edited row, the comparison grid, this settings file. */
  files: { unedited: string; edited: string[]; comparison: string; settings: string };
  ms: number;
}

const OPTIONS: OptionSpec = {
  model: { type: 'string' }, prompt: { type: 'string' }, negative: { type: 'string' },
  target: { type: 'string', multiple: true }, mode: { type: 'string', default: 'replace' }, 'word-weight': { type: 'string', multiple: true },
  blend: { type: 'string', multiple: true }, 'blend-threshold': { type: 'string', default: '0.3' }, cross: { type: 'string', default: '0.8' },
  self: { type: 'string', default: '0.4' }, ...SEGA_FLAGS,
  cfg: { type: 'string', default: '7.5' }, steps: { type: 'string', default: '50' }, seed: { type: 'string', default: '0' },
  height: { type: 'string' }, width: { type: 'string' }, 'config-dir': { type: 'string' }, scheduler: { type: 'string' },
  out: { type: 'string', default: 'out/edit' }, json: { type: 'boolean', default: false },
};

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

function unit(name: string, v: unknown): number {
  const n = numberOption(name, v)!;
  if (n < 0 || n > 1) throw new OptionError(name, `must be in [0, 1], got ${n}`);
  return n;
}

/** Parses and checks the P2P flags; undefined when no P2P edit was asked for. */
function parseP2P(values: Record<string, unknown>, prompt: string): { edit: P2PEdit; report: NonNullable<EditReport['p2p']>; targets: string[] } | undefined {
  const mode = String(values['mode']) as P2PMode;
  if (!['replace', 'refine', 'reweight'].includes(mode)) throw new OptionError('mode', `must be replace, refine or reweight, got "${mode}"`);
  let targets = list(values['target']);
  const wordWeights = parseWeights(list(values['word-weight']), targets.length ? targets : [prompt]);
  if (targets.length === 0) {
    if (mode !== 'reweight') {
      for (const f of ['word-weight', 'blend']) if (values[f] !== undefined) throw new OptionError(f, 'is a Prompt-to-Prompt setting: give the edited prompt with --target');
      return undefined;
    }
    targets = [prompt];
  }
  if (mode === 'reweight' && Object.keys(wordWeights).length === 0) throw new OptionError('word-weight', '--mode reweight needs at least one --word-weight word=value');
  const prompts = [prompt, ...targets];
  const blend = list(values['blend']);
  checkPrompts(mode, prompts, blend);
  const cross = unit('cross', values['cross']);
  const self = unit('self', values['self']);
  const blendThreshold = unit('blend-threshold', values['blend-threshold']);
  const edit: P2PEdit = {
    targets, mode, crossReplaceSteps: cross, selfReplaceSteps: self, weights: Object.keys(wordWeights).length ? wordWeights : undefined,
    localBlend: blend.length ? { words: prompts.map((p) => blend.filter((w) => p.split(' ').includes(w))), threshold: blendThreshold } : undefined,
  };
  return { edit, targets, report: { mode, crossReplaceSteps: cross, selfReplaceSteps: self, wordWeights, blend, blendThreshold } };
}

/** `semedit edit --model DIR --prompt TEXT [P2P flags] [SEGA flags] [options]`. */
export const editCommand: Command = {
  usage: 'edit --model <dir|file> --prompt TEXT [--target TEXT]... [--mode replace|refine|reweight] [--word-weight WORD=W]... [--blend WORD]... [--blend-threshold T] [--cross F] [--self F] [--add CONCEPT]... [--remove CONCEPT]... [--scale S]... [--threshold T]... [--warmup N]... [--cooldown N]... [--weight W]... [--momentum S] [--mom-beta B] [--concept-chunk N] [--cfg S] [--negative TEXT] [--steps N] [--seed N] [--height H --width W] [--config-dir DIR] [--scheduler NAME] [--out DIR] [--json]',
  summary: 'one edit composing Prompt-to-Prompt (--target) and SEGA (--add/--remove) in a single loop; writes the edits, a comparison with the unedited image and the settings',
  async run(argv) {
    const { values, positionals, order } = parseCommandArgs('edit', argv, OPTIONS);
    const { model, prompt, steps, seed, guidanceScale, height, width, negative } = generationFlags('edit', values, positionals);
    const p2p = parseP2P(values, prompt);
    const sega = parseSegaFlags(order, values, { steps, cfg: guidanceScale }, false);
    if (!p2p && !sega) throw new OptionError('target', 'give an edit: an edited prompt (--target) and/or concepts (--add / --remove)');
    const prompts = [prompt, ...(p2p?.targets ?? [])];
    const loadOpts = sdLoadOptions(model, values);
    const out = await checkOutputDir('--out', String(values['out']), [model]); // before any loading or computing
    const files: EditReport['files'] = {
      unedited: join(out, 'unedited.png'), edited: prompts.map((_, i) => join(out, prompts.length === 1 ? 'edited.png' : `edited-${i}.png`)),
      comparison: join(out, 'comparison.png'), settings: join(out, 'settings.json'),
    };
    const start = Date.now();
    const backend = await initBackend();
    const sd = await loadStableDiffusion(model, loadOpts);
    const bar = progressBar('unedited + edit', 2 * steps);
    const owned: tf.Tensor[] = [];
    try {
      const common = { prompt, numInferenceSteps: steps, guidanceScale, seed, negativePrompt: negative, height, width, onProgress: () => bar.tick() };
      const plain = await runTextToImage(sd, common);
      owned.push(plain.latents, plain.images);
      const opts: EditOptions = { ...common, p2p: p2p?.edit, sega: sega?.edit };
      const r = await runEdit(sd, opts);
      bar.done();
      try {
        const warnings = [...r.warnings, ...r.truncated.map((t) => `${t.prompt} is longer than the model's limit; dropped ${t.droppedTokens} tokens: "${t.droppedText}"`)];
        for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
        const edited = tensorToImages(r.images, { range: '0-1' });
        const [unedited] = tensorToImages(plain.images, { range: '0-1' });
        const report = await withOutputs('--out', async (outs) => {
          await writePng(await outs.stage(files.unedited), unedited!);
          for (const [i, path] of files.edited.entries()) await writePng(await outs.stage(path), edited[i]!);
          const labels = ['unedited', ...prompts.map((_, i) => (i === 0 ? (sega ? 'source + SEGA' : 'source') : `target ${i}${sega ? ' + SEGA' : ''}`))];
          await writeGrid(await outs.stage(files.comparison), [unedited!, ...edited], { labels, cols: labels.length, background: 255 });
          const [, h, w] = r.images.shape;
          const report: EditReport = {
            backend: backend.name, model, scheduler: sd.scheduler.className, prompts, negativePrompt: negative ?? null, seed, steps, guidanceScale, size: [h, w],
            p2p: p2p?.report ?? null, sega: sega ? { concepts: sega.report, momentumScale: sega.momentumScale, momBeta: sega.momBeta } : null,
            warnings, files, ms: Date.now() - start,
          };
          await outs.write(files.settings, `${JSON.stringify(report, null, 2)}\n`);
          return report;
        });
        process.stdout.write(values['json'] ? `${JSON.stringify(report, null, 2)}\n` : `wrote ${out} (${report.ms} ms on ${backend.name})\n`);
        return 0;
      } finally {
        r.dispose();
      }
    } finally {
      tf.dispose(owned);
      sd.dispose();
    }
  },
};
