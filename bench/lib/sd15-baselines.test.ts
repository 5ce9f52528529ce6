/**
 * End to end on a tiny UNet and a tiny VAE (the unet-tiny-sd2 / vae-tiny fixtures' configs, random weights from
 * sd15.py): the cache is made, PyTorch and onnxruntime-node time it and agree, and our own loaders read the same
 * `.bin` weights and reproduce the PyTorch output from the NHWC inputs. Skipped, with the reason printed, without a
 * Python that imports torch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { fixturesRoot } from '@semedit/core/fixtures';
import { loadUNet } from '@semedit/core/unet';
import { loadVae } from '@semedit/core/vae';
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from './ort.js';
import { findPython } from './python.js';
import { readSd15Io, readSd15VaeIo, sd15Baselines, type Sd15Baselines } from './sd15-baselines.js';

const found = findPython();
if ('reason' in found) console.warn(`sd15-baselines.test.ts skipped: ${found.reason}`);
const dir = mkdtempSync(join(tmpdir(), 'sd15-baselines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectBothAgree(b: Sd15Baselines): void {
  expect(b.reasons).toEqual([]);
  expect(b.torch?.ms).toBeGreaterThan(0);
  expect(b.torch?.maxAbsDiff).toBeLessThan(1e-4);
  expect(b.onnxruntime?.ms).toBeGreaterThan(0);
  expect(b.onnxruntime?.maxAbsDiff).toBeLessThan(1e-4);
}

describe('sd15Baselines on tiny models (configs of the fixtures unet-tiny-sd2, vae-tiny)', () => {
  it.skipIf('reason' in found)('unet: PyTorch, onnxruntime and loadUNet agree with PyTorch on one cache', async () => {
    const config = join(fixturesRoot(), 'unet-tiny-sd2', 'config.json');
    const b = await sd15Baselines({ model: 'unet', reps: 1, warmup: 0, cache: dir, config, timeoutMs: 120_000 });
    expectBothAgree(b);

    await initBackend({ backend: 'wasm' });
    const unet = await loadUNet(b.cache.modelDir);
    const io = await readSd15Io(dir);
    const sample = tf.tensor4d(io.sample.data as Float32Array, io.sample.shape as [number, number, number, number]);
    const ehs = tf.tensor3d(io.encoderHiddenStates.data as Float32Array, io.encoderHiddenStates.shape as [number, number, number]);
    const eps = unet.forward(sample, io.timestep, ehs);
    expect(eps.shape).toEqual(io.noisePred.shape);
    expect(maxAbsDiff(await eps.data(), io.noisePred)).toBeLessThan(1e-4);
    tf.dispose([sample, ehs, eps]);
    unet.dispose();
  });

  it.skipIf('reason' in found)('vae decode: PyTorch, onnxruntime and loadVae agree with PyTorch on one cache', async () => {
    const config = join(fixturesRoot(), 'vae-tiny', 'config.json');
    const b = await sd15Baselines({ model: 'vae', reps: 1, warmup: 0, cache: dir, config, timeoutMs: 120_000 });
    expectBothAgree(b);

    await initBackend({ backend: 'wasm' });
    const vae = await loadVae(b.cache.modelDir);
    const io = await readSd15VaeIo(dir);
    const z = tf.tensor4d(io.latents.data as Float32Array, io.latents.shape as [number, number, number, number]);
    const image = vae.decode(z);
    expect(image.shape).toEqual(io.image.shape);
    expect(maxAbsDiff(await image.data(), io.image)).toBeLessThan(1e-4);
    tf.dispose([z, image]);
    vae.dispose();
  });
});
