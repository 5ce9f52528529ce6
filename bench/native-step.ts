/**
 * One SD 1.5 UNet step (or, with --model=vae, one VAE decode at 512x512) at real size (the real config, 686 random float32 tensors, latents [2, 64, 64, 4], text
 * states [2, 77, 768]) on one backend, with a per-kernel profile: the development loop of the native engine.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/native-step.ts [--backend=native] [--model=unet|vae] [--reps=2] [--profile=1]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { createGenerator } from '@semedit/core';
import { UNet2DConditionModel, resolveUNetConfig, unetWeightShapes } from '@semedit/core/unet';
import { AutoencoderKL, resolveVaeConfig, vaeWeightShapes } from '@semedit/core/vae';
import { loadavg } from 'node:os';
import { intArg } from './lib/harness.js';
import { printProfile, profileRun, runFlops, topKernels } from './lib/profile.js';
import { SD15_UNET, SD_VAE, randomWeights } from './lib/sd15-models.js';

const backend = (process.argv.find((a) => a.startsWith('--backend='))?.split('=')[1] ?? 'native') as 'native';
const info = await initBackend({ backend });
console.log(info.detail);
const model = process.argv.find((a) => a.startsWith('--model='))?.split('=')[1] ?? 'unet';
if (model !== 'unet' && model !== 'vae') throw new Error(`--model must be unet or vae, got ${model}`);
let t = performance.now();
const gen = createGenerator(7);
let step: () => tf.Tensor;
let title: string;
if (model === 'unet') {
  const cfg = resolveUNetConfig(SD15_UNET);
  const shapes = unetWeightShapes(cfg);
  const unet = UNet2DConditionModel.fromWeights(randomWeights(shapes, Object.keys(shapes), 1), cfg);
  const x = tf.tensor4d(gen.normal(2 * 64 * 64 * 4), [2, 64, 64, 4]);
  const ehs = tf.tensor3d(gen.normal(2 * 77 * 768), [2, 77, 768]);
  step = () => unet.forward(x, 981, ehs);
  title = 'SD 1.5 UNet step';
} else {
  const cfg = resolveVaeConfig(SD_VAE);
  const shapes = vaeWeightShapes(cfg);
  const vae = AutoencoderKL.fromWeights(randomWeights(shapes, Object.keys(shapes), 2), cfg);
  const z = tf.tensor4d(gen.normal(64 * 64 * 4), [1, 64, 64, 4]);
  step = () => vae.decode(z);
  title = 'SD VAE decode at 512x512';
}
console.log(`weights built in ${((performance.now() - t) / 1000).toFixed(1)} s; rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`);
for (let i = 0; i < intArg('reps', 2); i++) {
  t = performance.now();
  tf.tidy(() => step().dataSync());
  console.log(`step ${i}: ${((performance.now() - t) / 1000).toFixed(2)} s (load ${loadavg()[0]!.toFixed(2)}), rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB, tensors ${tf.memory().numTensors}`);
}
if (intArg('profile', 1)) {
  const run = await profileRun(step);
  printProfile(`${title} on ${backend}: ${(runFlops(run) / 1e9).toFixed(0)} GFLOP`, run, topKernels(run, 16));
}
