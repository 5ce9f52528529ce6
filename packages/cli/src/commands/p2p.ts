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
import { requiredNumber } from '../args.js';
import { progressBar } from '../progress.js';
import { sdLoadOptions } from '../sd-options.js';
import { defineCommand } from './command.js';
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

/** `semedit p2p --model <dir> --prompt TEXT --target TEXT [options]`, from its declared options. */
export const p2pCommand = defineCommand({
  name: 'p2p',
  summary: 'Prompt-to-Prompt: edit an image by editing its prompt (word swap, refinement, re-weighting, local blend)',
  options: {
    model: { type: 'string', required: true, arg: 'DIR|FILE', help: 'a diffusers folder or a single-file checkpoint' },
    prompt: { type: 'string', required: true, arg: 'TEXT', help: 'the source prompt' },
    target: { type: 'string', multiple: true, arg: 'TEXT', help: 'an edited prompt (repeat for several)' },
    mode: { type: 'string', choices: ['replace', 'refine', 'reweight'], default: 'replace', help: 'word swap, refinement (added words) or re-weighting' },
    weight: { type: 'string', multiple: true, arg: 'WORD=W', help: 'attention weight of a word of the edited prompt' },
    blend: { type: 'string', multiple: true, arg: 'WORD', help: 'a LocalBlend word (repeat for several)' },
    'blend-threshold': { type: 'number', min: 0, max: 1, default: 0.3, arg: 'T', help: 'LocalBlend mask threshold' },
    cross: { type: 'number', min: 0, max: 1, default: 0.8, arg: 'F', help: 'fraction of steps with cross-attention injection', lib: ['crossReplaceSteps'] },
    self: { type: 'number', min: 0, max: 1, default: 0.4, arg: 'F', help: 'fraction of steps with self-attention injection', lib: ['selfReplaceSteps'] },
    mapper: { type: 'string', choices: ['corrected', 'reference'], default: 'corrected', help: 'word-swap mapper', lib: ['replaceMapper'] },
    seed: { type: 'int', default: 0, arg: 'N', help: 'seed of the shared starting latent' },
    steps: { type: 'int', min: 1, default: 50, arg: 'N', help: 'denoising steps', lib: ['numInferenceSteps'] },
    scale: { type: 'number', default: 7.5, arg: 'S', help: 'classifier-free guidance scale', lib: ['guidanceScale'] },
    height: { type: 'int', min: 1, arg: 'H', help: 'image height in pixels' },
    width: { type: 'int', min: 1, arg: 'W', help: 'image width in pixels' },
    out: { type: 'string', default: 'out/p2p', arg: 'DIR', help: 'the output folder' },
    'config-dir': { type: 'string', arg: 'DIR', help: 'configs for a single-file checkpoint', lib: ['configDir'] },
    scheduler: { type: 'string', arg: 'NAME', help: 'sampler by name', lib: ['sampler'] },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  async run({ values }) {
    const { model, prompt, mode, mapper, cross, self, steps, seed, height, width } = values;
    const threshold = values['blend-threshold'];
    const guidanceScale = values.scale;
    if (prompt.trim() === '') throw new OptionError('prompt', 'is required');
    let targets = [...values.target];
    if (targets.length === 0) {
      if (mode !== 'reweight') throw new OptionError('target', `is required for --mode ${mode}`);
      targets = [prompt];
    }
    const prompts = [prompt, ...targets];
    const weights = parseWeights(values.weight, targets);
    if (mode === 'reweight' && Object.keys(weights).length === 0) throw new OptionError('weight', '--mode reweight needs at least one --weight word=value');
    const blend = values.blend;
    checkPrompts(mode, prompts, blend);
    const loadOpts = sdLoadOptions(model, values as Record<string, unknown>);

    const out = await checkOutputDir('--out', values.out, [model]); // before any loading or computing
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
        process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `wrote ${out} (${report.ms} ms on ${backend.name})\n`);
        return 0;
      } finally {
        r.dispose();
      }
    } finally {
      sd.dispose();
    }
  },
});
