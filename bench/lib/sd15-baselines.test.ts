/**
 * End to end on a tiny UNet (the unet-tiny-sd2 fixture's config, random weights from sd15.py): the cache is made,
 * PyTorch and onnxruntime-node time it and agree, and our own loader reads the same `.bin` weights and reproduces
 * the PyTorch output from the NHWC inputs. Skipped, with the reason printed, without a Python that imports torch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { fixturesRoot } from '@semedit/core/fixtures';
import { loadUNet } from '@semedit/core/unet';
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from './ort.js';
import { findPython } from './python.js';
import { readSd15Io, sd15Baselines } from './sd15-baselines.js';

const found = findPython();
if ('reason' in found) console.warn(`sd15-baselines.test.ts skipped: ${found.reason}`);
const dir = mkdtempSync(join(tmpdir(), 'sd15-baselines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sd15Baselines on a tiny UNet (config of the fixture unet-tiny-sd2)', () => {
  it.skipIf('reason' in found)('times PyTorch and onnxruntime on one cache; both and loadUNet agree with PyTorch', async () => {
    const config = join(fixturesRoot(), 'unet-tiny-sd2', 'config.json');
    const b = await sd15Baselines({ reps: 1, warmup: 0, cache: dir, config, timeoutMs: 120_000 });
    expect(b.reasons).toEqual([]);
    expect(b.torch?.ms).toBeGreaterThan(0);
    expect(b.torch?.maxAbsDiff).toBeLessThan(1e-4);
    expect(b.onnxruntime?.ms).toBeGreaterThan(0);
    expect(b.onnxruntime?.maxAbsDiff).toBeLessThan(1e-4);

    await initBackend({ backend: 'wasm' });
    const unet = await loadUNet(b.cache.unetDir);
    const io = await readSd15Io(dir);
    const sample = tf.tensor4d(io.sample.data as Float32Array, io.sample.shape as [number, number, number, number]);
    const ehs = tf.tensor3d(io.encoderHiddenStates.data as Float32Array, io.encoderHiddenStates.shape as [number, number, number]);
    const eps = unet.forward(sample, io.timestep, ehs);
    expect(eps.shape).toEqual(io.noisePred.shape);
    expect(maxAbsDiff(await eps.data(), io.noisePred)).toBeLessThan(1e-4);
    tf.dispose([sample, ehs, eps]);
    unet.dispose();
  });
});
