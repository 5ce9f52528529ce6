/**
 * Example: one edit that swaps a word (Prompt-to-Prompt) and adds a concept (SEGA) in a single sampling loop.
 *
 * ```sh
 * pnpm exec tsx --conditions=@repo/source examples/compose-edit.ts <sd-folder> "a cat riding a bicycle" "a dog riding a bicycle" "snow" out/compose
 * ```
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend } from '@semedit/core/backend';
import { writeImageTensor } from '@semedit/core/image';
import { loadStableDiffusion } from '@semedit/core/pipeline';
import { runEdit } from '@semedit/edit';

/** What {@link composeEdit} wrote and saw. */
export interface ComposeEditSummary {
  /** Source prompt, then the edited prompt. */
  prompts: string[];
  /** The image grid: source + concept | edited prompt + concept. */
  grid: string;
  /** Which concepts each step applied (SEGA's phases). */
  phases: string[];
  /** Image size `[height, width]`. */
  size: [number, number];
}

/**
 * Loads a Stable Diffusion folder and runs one composed edit: `target` replaces `prompt` word for word while the
 * SEGA `concept` is added to both rows; writes the two images side by side.
 *
 * @param model   a diffusers folder or a single-file checkpoint
 * @param prompt  the source prompt
 * @param target  the edited prompt (same number of words)
 * @param concept a concept to add with SEGA
 * @param outDir  where `grid.png` goes
 * @param opts    steps, seed, size (defaults: 30 steps, seed 0, the model's size)
 * @example
 * ```ts
 * const s = await composeEdit('sd15', 'a cat riding a bicycle', 'a dog riding a bicycle', 'snow', 'out/compose');
 * s.grid; // 'out/compose/grid.png'
 * ```
 */
export async function composeEdit(
  model: string, prompt: string, target: string, concept: string, outDir: string,
  opts: { steps?: number; seed?: number; height?: number; width?: number } = {},
): Promise<ComposeEditSummary> {
  await initBackend();
  const sd = await loadStableDiffusion(model);
  try {
    const r = await runEdit(sd, {
      prompt, numInferenceSteps: opts.steps ?? 30, seed: opts.seed ?? 0, height: opts.height, width: opts.width,
      p2p: { targets: target, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 },
      sega: { concepts: [{ prompt: concept, scale: 5, threshold: 0.9, warmup: 2 }], recordGuidance: false },
    });
    try {
      await mkdir(outDir, { recursive: true });
      const grid = join(outDir, 'grid.png');
      await writeImageTensor(grid, r.images, { range: '0-1', grid: true });
      const [, h, w] = r.images.shape;
      return { prompts: r.prompts, grid, phases: r.phases.map(String), size: [h, w] };
    } finally {
      r.dispose();
    }
  } finally {
    sd.dispose();
  }
}

if (process.argv[1]?.endsWith('compose-edit.ts')) {
  const [model, prompt, target, concept, out] = process.argv.slice(2);
  if (!model || !prompt || !target || !concept) {
    process.stderr.write('usage: compose-edit.ts <model> <prompt> <target prompt> <concept> [out-dir]\n');
    process.exit(2);
  }
  const s = await composeEdit(model, prompt, target, concept, out ?? 'out/compose');
  process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
}
