/**
 * One SD 1.5 UNet step at real size (the real config, 686 random float32 tensors, latents [2, 64, 64, 4], text
 * states [2, 77, 768]) on one backend, with a per-kernel profile: the development loop of the native engine.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/native-step.ts [--backend=native] [--reps=2] [--profile=1]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { createGenerator } from '@semedit/core';
import { UNet2DConditionModel, resolveUNetConfig, unetWeightShapes } from '@semedit/core/unet';
import { loadavg } from 'node:os';
import { intArg } from './lib/harness.js';
import { printProfile, profileRun, runFlops, topKernels } from './lib/profile.js';
import { SD15_UNET, randomWeights } from './lib/sd15-models.js';

const backend = (process.argv.find((a) => a.startsWith('--backend='))?.split('=')[1] ?? 'native') as 'native';
const info = await initBackend({ backend });
console.log(info.detail);
const cfg = resolveUNetConfig(SD15_UNET);
const shapes = unetWeightShapes(cfg);
let t = performance.now();
const unet = UNet2DConditionModel.fromWeights(randomWeights(shapes, Object.keys(shapes), 1), cfg);
console.log(`weights built in ${((performance.now() - t) / 1000).toFixed(1)} s; rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`);
const gen = createGenerator(7);
const x = tf.tensor4d(gen.normal(2 * 64 * 64 * 4), [2, 64, 64, 4]);
const ehs = tf.tensor3d(gen.normal(2 * 77 * 768), [2, 77, 768]);
const step = (): tf.Tensor => unet.forward(x, 981, ehs);
for (let i = 0; i < intArg('reps', 2); i++) {
  t = performance.now();
  tf.tidy(() => step().dataSync());
  console.log(`step ${i}: ${((performance.now() - t) / 1000).toFixed(2)} s (load ${loadavg()[0]!.toFixed(2)}), rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB, tensors ${tf.memory().numTensors}`);
}
if (intArg('profile', 1)) {
  const run = await profileRun(step);
  printProfile(`SD 1.5 UNet step on ${backend}: ${(runFlops(run) / 1e9).toFixed(0)} GFLOP`, run, topKernels(run, 16));
}
