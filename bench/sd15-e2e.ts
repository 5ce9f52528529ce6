/**
 * Stable Diffusion 1.5 end to end at real size, fp32, random weights: the CLIP ViT-L/14 text encoder, the UNet and
 * the VAE decoder at 512x512, through `runTextToImage` (classifier-free guidance, DDIM, a few steps), on one backend
 * (default: native). Prints the time of each part and the process's peak RSS, and writes them to
 * `bench/results/sd15-e2e.json`. Tokenizer: the CLIP vocabulary of the clip-tokenizer fixture.
 *
 * `--weights=fp16` (or bf16) keeps the weight matrices and filters in half-width storage (native only).
 *
 *   pnpm exec tsx --conditions=@repo/source bench/sd15-e2e.ts [--backend=native] [--steps=2] [--weights=fp32]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { ClipTextModel, buildClipTextParams, clipTextExpectedShapes } from '@semedit/core/clip';
import { fixturesRoot } from '@semedit/core/fixtures';
import { runTextToImage } from '@semedit/core/pipeline';
import { createScheduler } from '@semedit/core/schedulers';
import { loadClipTokenizer } from '@semedit/core/tokenizer';
import { UNet2DConditionModel, resolveUNetConfig, unetWeightShapes } from '@semedit/core/unet';
import { AutoencoderKL, resolveVaeConfig, vaeWeightShapes } from '@semedit/core/vae';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { randomWeights as clipWeights, textCfg } from './clip.js';
import { intArg, machine, writeResult } from './lib/harness.js';
import { SD15_UNET, SD_VAE, randomWeights } from './lib/sd15-models.js';

const backend = (process.argv.find((a) => a.startsWith('--backend='))?.split('=')[1] ?? 'native') as 'native';
const steps = intArg('steps', 2);
const weightStorage = (process.argv.find((a) => a.startsWith('--weights='))?.split('=')[1] ?? 'fp32') as 'fp32';
const info = await initBackend({ backend, weightStorage });
const gib = (b: number): number => +(b / 2 ** 30).toFixed(2);
const peak = (): number => gib(process.resourceUsage().maxRSS * 1024);
const seconds = (t: number): number => +((performance.now() - t) / 1000).toFixed(2);

let t = performance.now();
const text = new ClipTextModel(textCfg, buildClipTextParams(clipWeights(clipTextExpectedShapes(textCfg, 768), 1), textCfg).params as never);
const unetCfg = resolveUNetConfig(SD15_UNET);
const unetShapes = unetWeightShapes(unetCfg);
const unet = UNet2DConditionModel.fromWeights(randomWeights(unetShapes, Object.keys(unetShapes), 1), unetCfg);
const vaeCfg = resolveVaeConfig(SD_VAE);
const vaeShapes = vaeWeightShapes(vaeCfg);
const vae = AutoencoderKL.fromWeights(randomWeights(vaeShapes, Object.keys(vaeShapes), 2), vaeCfg);
const buildS = seconds(t);
const builtRss = gib(process.memoryUsage().rss);
// Linux: "5" resets the peak RSS (VmHWM), so that the run's own peak can be read after it.
const runPeak = ((): (() => number | null) => {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return () => gib(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024);
  } catch {
    return () => null;
  }
})();
const tokenizer = await loadClipTokenizer(join(fixturesRoot(), 'clip-tokenizer'));
const scheduler = createScheduler({ _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: 1000, set_alpha_to_one: false, steps_offset: 1, clip_sample: false } as never);
console.log(`${info.detail}; weights built in ${buildS} s, peak RSS ${peak()} GiB, ${tf.memory().numTensors} tensors`);

const stepTimes: number[] = [];
let last = performance.now();
t = performance.now();
const result = await runTextToImage({ tokenizer, textEncoder: text, unet, vae, scheduler }, {
  prompt: 'a photograph of an astronaut riding a horse', numInferenceSteps: steps, guidanceScale: 7.5, height: 512, width: 512, seed: 1,
  onStepEnd: () => {
    stepTimes.push(seconds(last));
    last = performance.now();
  },
});
const totalS = seconds(t);
const image = result.images.shape;
const finite = tf.tidy(() => tf.all(tf.isFinite(result.images)).dataSync()[0] === 1);
tf.dispose([result.images, result.latents]);
const row = { backend: info.detail, weightStorage, steps, image, finite, buildS, totalS, stepS: stepTimes, peakRssGiB: peak(), rssAfterBuildGiB: builtRss, runPeakRssGiB: runPeak(), loadAvg: +loadavg()[0]!.toFixed(2) };
console.log(JSON.stringify(row));
writeResult(weightStorage === 'fp32' ? 'sd15-e2e' : `sd15-e2e-${weightStorage}`, { machine: machine(), backend: info, rows: [row] });
