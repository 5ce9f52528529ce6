/**
 * `semedit p2p --model <dir> --prompt TEXT --target TEXT`: Prompt-to-Prompt editing (word swap, refinement,
 * re-weighting, LocalBlend) with a progress bar; writes the source and edited images, a side-by-side grid, the
 * per-token attention maps of each prompt, the LocalBlend mask, and the settings as JSON.
 * @module
 */
import { join, resolve } from 'node:path';
import { OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { tensorToImages, writeGrid, writePng } from '@semedit/core/image';
import { loadStableDiffusion } from '@semedit/core/pipeline';
import {
  PromptEditError, runPromptToPrompt, writeAttentionMaps, writeMaskGrid, type P2PMode, type PromptToPromptOptions,
} from '@semedit/edit';
import { optString, parseCommandArgs, requiredNumber } from '../args.js';
import { progressBar } from '../progress.js';
import { sdLoadOptions } from '../sd-options.js';
import type { Command } from './command.js';
import { checkOutputDir, withOutputs } from '../outputs.js';

/** The settings and outputs of a `semedit p2p` run, written as `settings.json` and printed with `--json` (a contract). */
export interface P2PReport {
  backend: string;
  model: string;
  prompts: string[];
  mode: P2PMode;
  weights: Record<string, number>;
  blend: string[];
  blendThreshold: number;
  crossReplaceSteps: number;
  selfReplaceSteps: number;
  mapper: 'corrected' | 'reference';
  steps: number;
  guidanceScale: number;
  seed: number;
  size: [number, number];
  /** Written files by role. */
  files: { source: string; targets: string[]; comparison: string; maps: string[]; blendMask?: string; settings: string };
  ms: number;
}

const MAX_WEIGHT = 10;

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/**
 * Parses `--weight word=2` entries, checking each weight's range and that the word is a word of every edited prompt
 * (space-separated, exact, as the reference looks words up).
 */
export function parseWeights(entries: string[], targets: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    const at = e.lastIndexOf('=');
    if (at <= 0) throw new OptionError('weight', `expects word=value, got "${e}"`);
    const word = e.slice(0, at);
    out[word] = requiredNumber(`weight ${word}`, e.slice(at + 1), { min: -MAX_WEIGHT, max: MAX_WEIGHT });
    for (const t of targets) if (!t.split(' ').includes(word)) throw new PromptEditError(`--weight: word "${word}" is not in the prompt`, { prompt: t, word });
  }
  return out;
}

/** Checks what can be checked before loading the model: word counts for the mode, blend words. */
export function checkPrompts(mode: P2PMode, prompts: string[], blend: string[]): void {
  const [src, ...targets] = prompts;
  if (mode === 'replace') {
    const n = src!.split(' ').length;
    for (const t of targets) {
      const k = t.split(' ').length;
      if (k !== n) throw new PromptEditError(`--mode replace swaps words one for one, but the source has ${n} words and the target ${k}; use --mode refine to add words`, { prompt: t });
    }
  }
  for (const w of blend) {
    if (!prompts.some((p) => p.split(' ').includes(w))) throw new PromptEditError(`--blend: word "${w}" is in none of the prompts`, { prompt: prompts.join('" / "'), word: w });
  }
}

/** `semedit p2p --model <dir> --prompt TEXT --target TEXT [options]`. */
export const p2pCommand: Command = {
  usage: 'p2p --model <dir|file> --prompt TEXT --target TEXT [--target TEXT ...] [--mode replace|refine|reweight] [--weight WORD=W ...] [--blend WORD ...] [--blend-threshold T] [--cross F] [--self F] [--mapper corrected|reference] [--seed N] [--steps N] [--scale S] [--height H --width W] [--out DIR] [--config-dir DIR] [--scheduler NAME] [--json]',
  summary: 'Prompt-to-Prompt: edit an image by editing its prompt (word swap, refinement, re-weighting, local blend)',
  async run(argv) {
    const { values, positionals } = parseCommandArgs('p2p', argv, {
      model: { type: 'string' }, prompt: { type: 'string' }, target: { type: 'string', multiple: true }, mode: { type: 'string', default: 'replace' },
      weight: { type: 'string', multiple: true }, blend: { type: 'string', multiple: true }, 'blend-threshold': { type: 'string', default: '0.3' },
      cross: { type: 'string', default: '0.8' }, self: { type: 'string', default: '0.4' }, mapper: { type: 'string', default: 'corrected' },
      seed: { type: 'string', default: '0' }, steps: { type: 'string', default: '50' }, scale: { type: 'string', default: '7.5' },
      height: { type: 'string' }, width: { type: 'string' }, out: { type: 'string', default: 'out/p2p' }, 'config-dir': { type: 'string' }, scheduler: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length > 0) throw new OptionError('p2p', `takes no positional arguments (got ${positionals.join(' ')}); give the model with --model`);
    const model = values['model'];
    if (typeof model !== 'string') throw new OptionError('model', 'is required (a diffusers folder or a checkpoint file)');
    const prompt = values['prompt'];
    if (typeof prompt !== 'string' || prompt.trim() === '') throw new OptionError('prompt', 'is required');
    const mode = String(values['mode']) as P2PMode;
    if (!['replace', 'refine', 'reweight'].includes(mode)) throw new OptionError('mode', `must be replace, refine or reweight, got "${mode}"`);
    let targets = list(values['target']);
    if (targets.length === 0) {
      if (mode !== 'reweight') throw new OptionError('target', `is required for --mode ${mode}`);
      targets = [prompt];
    }
    const prompts = [prompt, ...targets];
    const weights = parseWeights(list(values['weight']), targets);
    if (mode === 'reweight' && Object.keys(weights).length === 0) throw new OptionError('weight', '--mode reweight needs at least one --weight word=value');
    const blend = list(values['blend']);
    checkPrompts(mode, prompts, blend);
    const mapper = String(values['mapper']);
    if (mapper !== 'corrected' && mapper !== 'reference') throw new OptionError('mapper', `must be corrected or reference, got "${mapper}"`);
    const cross = requiredNumber('cross', values['cross'], { min: 0, max: 1 });
    const self = requiredNumber('self', values['self'], { min: 0, max: 1 });
    const threshold = requiredNumber('blend-threshold', values['blend-threshold'], { min: 0, max: 1 });
    const steps = requiredNumber('steps', values['steps'], { int: true, min: 1 });
    const guidanceScale = requiredNumber('scale', values['scale']);
    const seed = requiredNumber('seed', values['seed'], { int: true });
    const height = values['height'] !== undefined ? requiredNumber('height', values['height'], { int: true, min: 1 }) : undefined;
    const width = values['width'] !== undefined ? requiredNumber('width', values['width'], { int: true, min: 1 }) : undefined;

    const loadOpts = sdLoadOptions(model, values);

    const out = await checkOutputDir('--out', String(values['out']), [model]); // before any loading or computing
    const start = Date.now();
    const backend = await initBackend();
    const sd = await loadStableDiffusion(model, loadOpts);
    const bar = progressBar('prompt-to-prompt', steps);
    try {
      const opts: PromptToPromptOptions = {
        prompt, targets, mode, crossReplaceSteps: cross, selfReplaceSteps: self, replaceMapper: mapper,
        numInferenceSteps: steps, guidanceScale, seed, height, width,
        weights: Object.keys(weights).length ? weights : undefined,
        localBlend: blend.length ? { words: prompts.map((p) => blend.filter((w) => p.split(' ').includes(w))), threshold } : undefined,
        onProgress: () => bar.tick(),
      };
      const r = await runPromptToPrompt(sd, opts);
      bar.done();
      try {
        const images = tensorToImages(r.images, { range: '0-1' });
        const many = targets.length > 1;
        const files: P2PReport['files'] = {
          source: join(out, 'source.png'), targets: targets.map((_, i) => join(out, many ? `target-${i + 1}.png` : 'target.png')),
          comparison: join(out, 'comparison.png'), maps: [], settings: join(out, 'settings.json'),
        };
        // Every file or none: staged beside its place, moved in only when all are written.
        const report = await withOutputs('--out', async (outs) => {
          for (const [i, path] of [files.source, ...files.targets].entries()) await writePng(await outs.stage(path), images[i]!);
          await writeGrid(await outs.stage(files.comparison), images, { labels: ['source', ...targets.map((_, i) => `target ${i + 1}`)], cols: prompts.length, background: 255 });
          for (let p = 0; p < prompts.length; p++) {
            const path = join(out, p === 0 ? 'maps-source.png' : `maps-target${many ? `-${p}` : ''}.png`);
            await writeAttentionMaps(await outs.stage(path), r.store!, sd.tokenizer, prompts[p]!, { prompt: p });
            files.maps.push(path);
          }
          const mask = r.localBlend?.mask();
          if (mask) {
            files.blendMask = join(out, 'blend-mask.png');
            await writeMaskGrid(await outs.stage(files.blendMask), mask, ['source', ...targets.map((_, i) => `target ${i + 1}`)]);
            mask.dispose();
          }
          const [, h, w] = r.images.shape;
          const report: P2PReport = {
            backend: backend.name, model, prompts, mode, weights, blend, blendThreshold: threshold, crossReplaceSteps: cross, selfReplaceSteps: self,
            mapper, steps, guidanceScale, seed, size: [h, w], files, ms: Date.now() - start,
          };
          await outs.write(files.settings, `${JSON.stringify(report, null, 2)}\n`);
          return report;
        });
        for (const t of r.truncated) process.stderr.write(`warning: prompt ${t.index} is too long; dropped ${t.droppedTokens} tokens: "${t.droppedText}"\n`);
        process.stdout.write(values['json'] ? `${JSON.stringify(report, null, 2)}\n` : `wrote ${out} (${report.ms} ms on ${backend.name})\n`);
        return 0;
      } finally {
        r.dispose();
      }
    } finally {
      sd.dispose();
    }
  },
};
