/**
 * The PyTorch baselines (`torch_unet.py`, `torch_vae.py`) must reproduce the diffusers reference fixtures before
 * the bench times them. Runs `check_torch_unet.py` / `check_torch_vae.py` (every size and tolerance read from the
 * fixture's fixture.json) through the Python that imports torch; skipped, with the reason printed, when there is
 * none (`bash bench/setup.sh`).
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
if (skip) console.warn(`torch-unet.test.ts ${skip}`);

const CASES = [
  { id: 'unet-tiny', script: 'check_torch_unet.py', main: 'noise_pred_scalar_t' },
  { id: 'unet-tiny-sd2', script: 'check_torch_unet.py', main: 'noise_pred_scalar_t' },
  { id: 'vae-tiny', script: 'check_torch_vae.py', main: 'decoded' },
];

describe('torch_unet.py / torch_vae.py (PyTorch ports of the diffusers models)', () => {
  for (const { id, script, main } of CASES) {
    it.skipIf(skip !== '')(`${script} matches the diffusers reference fixture ${id}`, () => {
      const python = 'python' in found ? found.python : '';
      const r = spawnSync(python, [join(here, script), id], {
        encoding: 'utf8', env: { ...process.env, SEMEDIT_FIXTURES: fixturesRoot(), OMP_NUM_THREADS: '1' }, timeout: 120_000,
      });
      const lines = r.stdout.trim().split('\n');
      const summary = JSON.parse(lines.at(-1) ?? '{}') as { ok?: boolean; fixtures?: Record<string, Record<string, number>> };
      expect(summary.ok, `${r.stdout}\n${r.stderr}`).toBe(true);
      expect(r.status).toBe(0);
      const diffs = summary.fixtures?.[id] ?? {};
      expect(Object.keys(diffs).length).toBeGreaterThan(0);
      expect(diffs[main]).toBeLessThan(1e-4);
    });
  }
});
