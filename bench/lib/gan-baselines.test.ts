/**
 * End to end on tiny models (the stylegan2-nvlabs-tiny fixture's generator config, the clip-vision-tiny CLIP
 * config; random weights from stylegan2_cases.py): the cache is made, PyTorch re-runs and agrees with its stored
 * output, and our own loaders read the same weights and reproduce PyTorch's image (and, for the StyleCLIP step, its
 * gradient) from the same inputs. Skipped, with the reason printed, without a Python that imports torch.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { loadClipModel } from '@semedit/core/clip';
import { fixturesRoot, haveFixtures } from '@semedit/core/fixtures';
import { flattenNvlabsKwargs, loadNvlabsGenerator, type StyleGan2Config } from '@semedit/core/stylegan2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { styleclipStep } from '../styleclip.js';
import { ganCachePaths, ganSetup, ganSpec, ganTorch, prepareGanCase, readGanIo, type GanCase, type GanSpec } from './gan-baselines.js';
import { maxAbsDiff } from './ort.js';
import { findPython } from './python.js';

const found = findPython();
const skip = 'reason' in found ? `skipped: ${found.reason}` : haveFixtures() ? '' : `skipped: no fixtures at ${fixturesRoot()}`;
if (skip) console.warn(`gan-baselines.test.ts ${skip}`);
const dir = mkdtempSync(join(tmpdir(), 'gan-baselines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  if (!skip) await initBackend({ backend: 'wasm' });
});

const readJson = (p: string): Record<string, unknown> => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
const tinyGenerator = (): StyleGan2Config => flattenNvlabsKwargs(readJson(join(fixturesRoot(), 'stylegan2-nvlabs-tiny', 'config.json'))['kwargs'] as Record<string, unknown>);

function setupAndTime(name: GanCase, overrides: Parameters<typeof ganSpec>[1]): GanSpec {
  const spec = ganSpec(name, { ...overrides, generator: { ...tinyGenerator(), conv_clamp: 256 } });
  const s = ganSetup(name, { cache: dir, spec, timeoutMs: 120_000 });
  expect('reason' in s ? s.reason : '').toBe('');
  const t = ganTorch(name, { reps: 1, warmup: 0, threads: 1, cache: dir, timeoutMs: 120_000 });
  if ('reason' in t) throw new Error(t.reason);
  expect(t.ms).toBeGreaterThan(0);
  expect(t.maxAbsDiff).toBeLessThan(1e-5);
  return spec;
}

describe('StyleGAN2 baselines on tiny models (stylegan2-nvlabs-tiny config, clip-vision-tiny config)', () => {
  it.skipIf(skip !== '')('stylegan2-1024 case: PyTorch and loadNvlabsGenerator agree on one cache', async () => {
    const spec = setupAndTime('stylegan2-1024', {});
    // A cache made from another spec is not used (the bench's own spec is FFHQ 1024).
    expect(await prepareGanCase('stylegan2-1024', 'tiny synthesis', dir)).toBeNull();
    const p = await prepareGanCase('stylegan2-1024', 'tiny synthesis', dir, spec);
    expect(p).not.toBeNull();
    const img = (await p!.run()) as tf.Tensor4D;
    expect(img.shape).toEqual(p!.reference!.shape);
    expect(maxAbsDiff(await img.data(), p!.reference!)).toBeLessThan(1e-4);
    expect(p!.note).toContain(ganCachePaths(dir, 'stylegan2-1024').dir);
    img.dispose();
    p!.dispose();
  });

  it.skipIf(skip !== '')('styleclip-step case: PyTorch and our loaders agree on the image and the gradient', async () => {
    const clip = readJson(join(fixturesRoot(), 'clip-vision-tiny', 'config.json'));
    const spec = setupAndTime('styleclip-step', { clip });
    const p = await prepareGanCase('styleclip-step', 'tiny step', dir, spec);
    expect(p).not.toBeNull();
    const img = await p!.run();
    expect(maxAbsDiff(await img.data(), p!.reference!)).toBeLessThan(1e-4);
    expect(p!.note).toMatch(/gradient: max abs diff vs PyTorch \d/);
    tf.dispose(img);
    p!.dispose();

    // The gradient itself, against PyTorch's (peak ~1e-3 here), through the same step function.
    const paths = ganCachePaths(dir, 'styleclip-step');
    const io = await readGanIo(dir, 'styleclip-step');
    const G = await loadNvlabsGenerator(join(paths.generatorDir, 'generator.safetensors'), { config: readJson(join(paths.generatorDir, 'config.json')) as unknown as StyleGan2Config });
    const model = await loadClipModel(paths.clipDir);
    const ws = tf.tensor3d(io.ws.data as Float32Array, io.ws.shape as [number, number, number]);
    let grad: Float32Array | undefined;
    tf.dispose(await styleclipStep(G, model, io.tokens!, ws, (g) => (grad = g.slice()))());
    expect(grad).toBeDefined();
    const peak = Math.max(...Array.from(io.grad!.data as Float32Array, Math.abs));
    expect(peak).toBeGreaterThan(0);
    expect(maxAbsDiff(grad!, io.grad!)).toBeLessThan(1e-4 * peak + 1e-8);
    tf.dispose(ws);
    G.dispose();
    model.dispose();
  });
});
