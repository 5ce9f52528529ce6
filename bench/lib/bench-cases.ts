/**
 * The child-process side of `pnpm bench`: builds one case on the active backend (the same seeds, weights and inputs
 * on every backend configuration) and times it. `bench/run.ts` starts one child per (case, configuration).
 *
 * - SD 1.5 cases load the baselines' cache (`bench/.cache/sd15`, made by `sd15Baselines`) with our own loaders, so
 *   ours, PyTorch and onnxruntime run the same weights and inputs, and compare with PyTorch's stored output. Without
 *   a cache (no Python with torch) they fall back to seeded random weights at the same config and say so.
 * - `stylegan2-1024`, `styleclip-step` load the StyleGAN2 baseline's cache (`bench/.cache/stylegan2`, made by
 *   `ganSetup`) the same way (`lib/gan-baselines.ts`), with the same fallback.
 * - Kernel cases use SD 1.5 shapes (batch 2, 64x64 latents); {@link kernelSpecs} is what `torch_kernels.py` reads.
 * @module
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { HeapLimitError } from '@semedit/core/backend';
import { createGenerator } from '@semedit/core';
import type { RawTensor } from '@semedit/core/io';
import type { Prepared, RepPolicy } from './prepared.js';
import { ModelTooLargeError, assertFitsBackend } from '@semedit/core/pipeline';
import { UNet2DConditionModel, loadUNet, resolveUNetConfig, unetWeightShapes } from '@semedit/core/unet';
import { AutoencoderKL, loadVae, resolveVaeConfig, vaeWeightShapes } from '@semedit/core/vae';
// Not package subpaths: the UNet's attention kernel itself (as sd-kernels.ts).
import { scaledDotProductAttention } from '../../packages/core/src/nn/attention.js';
import { CLIP_IDS, clipTextL14 } from '../clip.js';
import { p2pStepSetup } from '../p2p.js';
import { segaStepSetup } from '../sega.js';
import { styleclipSetup } from '../styleclip.js';
import { ffhqConfig, stylegan2Setup } from '../stylegan2.js';
import type { CaseName, Measurement } from './bench-json.js';
import { median } from './harness.js';
import { maxAbsDiff } from './ort.js';
import { profileRun, runFlops, topKernels } from './profile.js';
import { GAN_CACHE, ganCachePaths, prepareGanCase } from './gan-baselines.js';
import { SD15_CACHE, readSd15Io, readSd15VaeIo, sd15CachePaths } from './sd15-baselines.js';
import { SD15_UNET, SD_VAE, randomWeights } from './sd15-models.js';

/** The configurations a case runs on: semedit's default backend, and the stock single-threaded wasm build. */
export type BenchConfig = 'main' | 'tfjs-wasm-stock';

export type { Prepared, RepPolicy };

/** A kernel case in the shape `torch_kernels.py` reads (the TypeScript and PyTorch sides time the same thing). */
export type KernelSpec = { id: string; flops: number; warmup: number; reps: number } & (
  | { kind: 'conv'; batch: number; h: number; w: number; cin: number; cout: number; k: number }
  | { kind: 'matmul'; m: number; k: number; n: number }
  | { kind: 'attention'; batch: number; tokens: number; channels: number; heads: number }
);

/**
 * The kernel cases at SD 1.5 shapes: the 3x3 conv of the 64x64 level (`[2,64,64,320]` -> 320, fused bias), the
 * attention projection matmul at 64x64 (`[8192,320] x [320,320]`), and a whole 64x64 self-attention (`[2,4096,320]`,
 * 8 heads of 40) through our chunked `scaledDotProductAttention` (PyTorch: diffusers' `AttnProcessor`).
 *
 * @param policy warm-up and timed runs of each
 * @example
 * ```ts
 * kernelSpecs({ warmup: 1, reps: 3 })['matmul-sd'].flops; // 1677721600
 * ```
 */
export function kernelSpecs(policy: RepPolicy): Record<'conv3x3-sd' | 'matmul-sd' | 'attention-self-sd', KernelSpec> {
  return {
    'conv3x3-sd': { id: 'conv3x3-sd', kind: 'conv', batch: 2, h: 64, w: 64, cin: 320, cout: 320, k: 3, flops: 2 * 2 * 64 * 64 * 9 * 320 * 320, ...policy },
    'matmul-sd': { id: 'matmul-sd', kind: 'matmul', m: 8192, k: 320, n: 320, flops: 2 * 8192 * 320 * 320, ...policy },
    'attention-self-sd': {
      id: 'attention-self-sd', kind: 'attention', batch: 2, tokens: 4096, channels: 320, heads: 8, flops: 4 * 2 * 4096 * 4096 * 320, ...policy,
    },
  };
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const normal = (seed: number, shape: number[], scale = 1): tf.Tensor => {
  const data = createGenerator(seed).normal(size(shape));
  if (scale !== 1) for (let i = 0; i < data.length; i++) data[i]! *= scale;
  return tf.tensor(data, shape);
};
const tensor = (r: RawTensor): tf.Tensor => tf.tensor(r.data as Float32Array, r.shape);

function prepareKernel(s: KernelSpec): Prepared {
  const base = { sync: true, gflop: s.flops / 1e9 };
  switch (s.kind) {
    case 'conv': {
      const x = normal(1, [s.batch, s.h, s.w, s.cin]) as tf.Tensor4D;
      const filter = normal(2, [s.k, s.k, s.cin, s.cout], 0.02) as tf.Tensor4D;
      const bias = tf.zeros([s.cout]) as tf.Tensor1D;
      return { ...base, run: () => tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'same' }), dispose: () => tf.dispose([x, filter, bias]) };
    }
    case 'matmul': {
      const a = normal(1, [s.m, s.k]) as tf.Tensor2D;
      const b = normal(2, [s.k, s.n]) as tf.Tensor2D;
      return { ...base, run: () => tf.matMul(a, b), dispose: () => tf.dispose([a, b]) };
    }
    case 'attention': {
      const [q, k, v] = [1, 2, 3].map((seed) => normal(seed, [s.batch, s.tokens, s.channels]) as tf.Tensor3D) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      return { ...base, run: () => tf.tidy(() => scaledDotProductAttention(q, k, v, { heads: s.heads })), dispose: () => tf.dispose([q, k, v]) };
    }
  }
}

/** Not run on this configuration: the reason goes into the result. */
export class NotRun extends Error {
  override name = 'NotRun';
}

const unetBytes = (): number => 4 * Object.values(unetWeightShapes(resolveUNetConfig(SD15_UNET))).reduce((a, s) => a + size(s), 0);

async function prepareUNet(config: BenchConfig): Promise<Prepared> {
  try {
    assertFitsBackend('the SD 1.5 UNet (float32)', unetBytes());
  } catch (e) {
    if (e instanceof ModelTooLargeError) throw new NotRun(e.message);
    throw e;
  }
  const paths = sd15CachePaths(SD15_CACHE, 'unet');
  if (existsSync(paths.manifest)) {
    const unet = await loadUNet(paths.modelDir);
    const io = await readSd15Io();
    const [x, ehs] = [tensor(io.sample) as tf.Tensor4D, tensor(io.encoderHiddenStates) as tf.Tensor3D];
    return {
      sync: true, run: () => unet.forward(x, io.timestep, ehs), reference: io.noisePred, note: `weights and inputs of ${paths.dir} (${config})`,
      dispose: () => { tf.dispose([x, ehs]); unet.dispose(); },
    };
  }
  const cfg = resolveUNetConfig(SD15_UNET);
  const shapes = unetWeightShapes(cfg);
  const unet = UNet2DConditionModel.fromWeights(randomWeights(shapes, Object.keys(shapes), 1), cfg);
  const [x, ehs] = [normal(7, [2, 64, 64, 4]) as tf.Tensor4D, normal(8, [2, 77, 768]) as tf.Tensor3D];
  return {
    sync: true, run: () => unet.forward(x, 981, ehs), note: `no baseline cache in ${paths.dir}: seeded random weights, no comparison with PyTorch`,
    dispose: () => { tf.dispose([x, ehs]); unet.dispose(); },
  };
}

const noGanCache = (name: 'stylegan2-1024' | 'styleclip-step'): string =>
  `no baseline cache in ${ganCachePaths(GAN_CACHE, name).dir}: seeded random weights, no comparison with PyTorch`;

async function prepareVae(): Promise<Prepared> {
  const paths = sd15CachePaths(SD15_CACHE, 'vae');
  if (existsSync(paths.manifest)) {
    const vae = await loadVae(paths.modelDir);
    const io = await readSd15VaeIo();
    const z = tensor(io.latents) as tf.Tensor4D;
    return { sync: true, run: () => vae.decode(z), reference: io.image, dispose: () => { z.dispose(); vae.dispose(); } };
  }
  const cfg = resolveVaeConfig(SD_VAE);
  const shapes = vaeWeightShapes(cfg);
  const vae = AutoencoderKL.fromWeights(randomWeights(shapes, Object.keys(shapes), 2), cfg);
  const z = normal(8, [1, 64, 64, 4]) as tf.Tensor4D;
  return {
    sync: true, run: () => vae.decode(z), note: `no baseline cache in ${paths.dir}: seeded random weights, no comparison with PyTorch`,
    dispose: () => { z.dispose(); vae.dispose(); },
  };
}

/**
 * Builds a case on the active backend.
 *
 * @param name   the case (`unet-step-sd15-bf16` needs native with SEMEDIT_PRECISION=bf16)
 * @param config which configuration this child is (the SD 1.5 UNet is refused up front on wasm)
 * @param policy the repetitions (the kernel cases pass them on to their spec)
 * @throws NotRun when the case cannot run on this configuration (the reason is the message)
 * @example
 * ```ts
 * const p = await prepareCase('conv3x3-sd', 'main', { warmup: 1, reps: 3 });
 * ```
 */
export async function prepareCase(name: CaseName, config: BenchConfig, policy: RepPolicy): Promise<Prepared> {
  switch (name) {
    case 'unet-step-sd15': return prepareUNet(config);
    case 'unet-step-sd15-bf16': {
      const b = tf.backend() as unknown as { addon?: { info(): { precision: string } } };
      if (b.addon?.info().precision !== 'bf16') throw new NotRun(`bf16 compute needs the native backend with SEMEDIT_PRECISION=bf16 (backend: ${tf.getBackend()})`);
      const p = await prepareUNet(config);
      return { ...p, note: `bf16 convs and matmuls (fp32 accumulation); ${p.note ?? ''}`.trim() };
    }
    case 'vae-decode-512': return prepareVae();
    case 'clip-text-l14': {
      const text = clipTextL14();
      return {
        sync: true, note: 'seeded random weights, 77 tokens, with projection',
        run: () => tf.tidy(() => text.forward(CLIP_IDS).textEmbeds),
        dispose: () => text.dispose?.(),
      };
    }
    case 'stylegan2-1024': {
      const what = "FFHQ paper1024 config; synthesis W+ -> [1,1024,1024,3], noise 'const'";
      const cached = await prepareGanCase(name, what);
      if (cached) return cached;
      const { z, ws, G } = stylegan2Setup(ffhqConfig(1024));
      return {
        sync: true, note: `${what}; ${noGanCache(name)}`,
        run: () => G.synthesis(ws, { noiseMode: 'const' }), dispose: () => tf.dispose([z, ws]),
      };
    }
    case 'styleclip-step': {
      const what = "StyleGAN2 paper256 (256x256) + CLIP ViT-B/32: forward, backprop, Adam update, and the returned image's synthesis";
      const cached = await prepareGanCase(name, what);
      if (cached) return cached;
      const s = styleclipSetup();
      return { sync: false, run: s.step, dispose: s.dispose, note: `${what}; ${noGanCache(name)}` };
    }
    case 'sega-step': {
      const s = await segaStepSetup({ label: 'SEGA 2 concepts', concepts: 2 }, 32);
      let i = 0;
      return {
        sync: true, run: () => s.step(i++), dispose: s.dispose,
        note: 'bench/sega.ts shapes: the sega-tiny fixture UNet (not SD 1.5) at 32x32 latents, 2 concepts = 4 UNet rows',
      };
    }
    case 'p2p-step': {
      const s = p2pStepSetup(3, 32);
      return {
        sync: true, run: s.step, dispose: s.dispose,
        note: 'bench/p2p.ts shapes: SD 1.5 layout at reduced width [64,128,256,256], 32x32 latents, batch 4; replace hooks + attention store + LocalBlend',
      };
    }
    case 'conv3x3-sd': case 'matmul-sd': case 'attention-self-sd':
      return prepareKernel(kernelSpecs(policy)[name]);
  }
}

/**
 * Times a prepared case: `warmup` untimed runs (the first output is checked finite and compared with the
 * reference), `reps` timed runs, then one more untimed run under `tf.profile()` when `profile` is set and the case
 * is synchronous (the top kernels). A wasm heap exhaustion is reported as not run.
 *
 * @example
 * ```ts
 * const m = await timeCase(await prepareCase('matmul-sd', 'main', policy), policy, true);
 * ```
 */
export async function timeCase(p: Prepared, policy: RepPolicy, profile: boolean): Promise<Measurement> {
  let diff: number | null = null;
  const once = async (check: boolean): Promise<void> => {
    const y = await p.run();
    const data = y.dataSync();
    if (check) {
      if (!data.every(Number.isFinite)) throw new Error('output is not finite');
      if (p.reference) diff = maxAbsDiff(data, p.reference);
    }
    y.dispose();
  };
  try {
    for (let i = 0; i < policy.warmup; i++) await once(i === 0);
    const ms: number[] = [];
    let top: Measurement['profile'];
    let gflop = p.gflop ?? null;
    for (let i = 0; i < policy.reps; i++) {
      const t0 = performance.now();
      await once(i === 0 && policy.warmup === 0);
      ms.push(performance.now() - t0);
    }
    // The profile is an extra, untimed run: tf.profile()'s per-kernel bookkeeping must not enter the timings.
    if (profile && p.sync) {
      const run = await profileRun(() => p.run() as tf.Tensor);
      top = topKernels(run, 8);
      gflop ??= runFlops(run) / 1e9;
    }
    return {
      ms: median(ms), minMs: Math.round(Math.min(...ms) * 100) / 100, reps: ms.length, warmup: policy.warmup, loadAvg: +loadavg()[0]!.toFixed(2),
      gflop, ...(p.reference ? { maxAbsDiff: diff } : {}), ...(top ? { profile: top } : {}), ...(p.note ? { note: p.note } : {}),
    };
  } catch (e) {
    if (e instanceof HeapLimitError) throw new NotRun(e.message);
    throw e;
  } finally {
    p.dispose();
  }
}
