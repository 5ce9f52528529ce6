/**
 * The PyTorch StyleGAN2 and StyleCLIP baselines (`torch_stylegan2.py`, `torch_clip.py`, `torch_styleclip.py`) must
 * reproduce the reference fixtures before the bench times them. Runs `check_torch_stylegan2.py` /
 * `check_torch_styleclip.py` (every size, setting and tolerance read from the fixture's fixture.json) through the
 * Python that imports torch; skipped, with the reason printed, when there is none (`bash bench/setup.sh`).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturesRoot, haveFixtures } from '@semedit/core/fixtures';
import { describe, expect, it } from 'vitest';
import { findPython } from '../lib/python.js';

const here = dirname(fileURLToPath(import.meta.url));
const found = findPython();
const skip = 'reason' in found ? `skipped: ${found.reason}` : haveFixtures() ? '' : `skipped: no fixtures at ${fixturesRoot()}`;
if (skip) console.warn(`torch-stylegan2.test.ts ${skip}`);

/** Each fixture with its checking script and the outputs that must be among the checked ones. */
const CASES = [
  { id: 'stylegan2-nvlabs-tiny', script: 'check_torch_stylegan2.py', main: ['img_wplus_const', 'img_wplus_const@unfused', 'grad_wplus'] },
  { id: 'clip-loss-tiny', script: 'check_torch_styleclip.py', main: ['clip_loss', 'grad_image'] },
  { id: 'clip-vision-tiny', script: 'check_torch_styleclip.py', main: ['vision.image_embeds', 'logits_per_image'] },
  { id: 'styleclip-optimize-tiny', script: 'check_torch_styleclip.py', main: ['grad', 'grad@unfused', 'latent_after_step@unfused', 'img_final@unfused'] },
];

interface Summary {
  ok?: boolean;
  fixtures?: Record<string, Record<string, number | null>>;
}

describe('torch_stylegan2.py / torch_styleclip.py (PyTorch ports for the StyleGAN2 and StyleCLIP baselines)', () => {
  for (const { id, script, main } of CASES) {
    it.skipIf(skip !== '')(`${script} matches the reference fixture ${id}`, () => {
      const python = 'python' in found ? found.python : '';
      const r = spawnSync(python, [join(here, script), id], {
        encoding: 'utf8', env: { ...process.env, SEMEDIT_FIXTURES: fixturesRoot(), OMP_NUM_THREADS: '1' }, timeout: 120_000,
      });
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Summary;
      expect(summary.ok, `${r.stdout}\n${r.stderr}`).toBe(true);
      expect(r.status).toBe(0);
      const diffs = summary.fixtures?.[id] ?? {};
      // Every listed output was compared (within the fixture's own tolerance, or ok would be false).
      for (const name of main) expect(typeof diffs[name], `${name} not checked:\n${r.stdout}`).toBe('number');
    });
  }
});
