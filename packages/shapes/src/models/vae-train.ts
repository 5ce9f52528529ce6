/**
 * Training the shapes VAE (diffusers `AutoencoderKL`, {@link SHAPES_VAE_CONFIG}) with semedit's own model code:
 * the loss is the reconstruction's mean absolute error plus a small KL term, the data batch k of the shapes data set
 * at step k. Saved as a diffusers `vae/` folder (float16), with `scaling_factor` measured as 1 / std of the latents.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AutoencoderKL, createGenerator } from '@semedit/core';
import { writeSafetensors } from '@semedit/core/io';
import { resolveVaeConfig, vaeWeightShapes, type AutoencoderKLConfig } from '@semedit/core/vae';
import { shapesBatch, WORLD_SIZE } from '../world/dataset.js';
import { runOptions, trainModel, warmupCosine, type TrainOptions } from '../train/loop.js';
import { checkpointOf, initWeights, leavesByPath, makeTrainable } from '../train/trainable.js';
import { SHAPES_VAE_CONFIG } from './configs.js';

/**
 * Options of {@link trainVae}.
 *
 * @example
 * ```ts
 * const o: TrainVaeOptions = { steps: 2000, batch: 16, checkpoint: '.shapes-train/vae.safetensors' };
 * ```
 */
export interface TrainVaeOptions extends Pick<TrainOptions, 'checkpoint' | 'checkpointEvery' | 'onProgress'> {
  steps: number;
  /** Images per step (default 16). */
  batch?: number;
  /** Data and initialisation seed (default 1). */
  seed?: number;
  /**
   * Peak learning rate (default 5e-4; warm-up 100 steps, cosine to 10%). Flat-coloured images make GroupNorm's
   * statistics nearly degenerate, and 1e-3 oscillates.
   */
  lr?: number;
  /** Weight of the KL term against the per-pixel L1 (default 1e-4). */
  klWeight?: number;
  config?: AutoencoderKLConfig;
}

/**
 * Trains the VAE, resuming from `checkpoint` when it exists; yields each step's losses and returns the model (its
 * parameters are the trained variables; the caller disposes it).
 *
 * @example
 * ```ts
 * const run = trainVae({ steps: 10 });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * r.value.dispose();
 * ```
 */
export async function* trainVae(opts: TrainVaeOptions): AsyncGenerator<{ step: number; losses: Record<string, number> }, AutoencoderKL> {
  const json = opts.config ?? SHAPES_VAE_CONFIG;
  const cfg = resolveVaeConfig(json);
  const seed = opts.seed ?? 1, batch = opts.batch ?? 16, lr = opts.lr ?? 5e-4, kl = opts.klWeight ?? 1e-4;
  const vae = AutoencoderKL.fromWeights(initWeights(vaeWeightShapes(cfg), seed), cfg);
  const vars = makeTrainable(vae.params, 'vae');
  const size = Array.isArray(json.sample_size) ? json.sample_size[0]! : (json.sample_size ?? 64);
  const factor = 2 ** (cfg.blockOutChannels.length - 1);
  const loss = (step: number): Record<string, tf.Scalar> => {
    const b = shapesBatch(seed, step * batch, batch, { size });
    try {
      const noise = tf.tensor4d(createGenerator(seed * 1_000_003 + step).normal(batch * (size / factor) ** 2 * cfg.latentChannels), [batch, size / factor, size / factor, cfg.latentChannels]);
      const post = vae.encode(b.images, { noise });
      const recon = vae.decode(post.sample!);
      const l1 = tf.mean(tf.abs(tf.sub(recon, b.images))) as tf.Scalar;
      const klTerm = tf.mul(tf.mean(tf.mul(0.5, tf.sub(tf.add(tf.square(post.mean), tf.exp(post.logvar)), tf.add(1, post.logvar)))), kl) as tf.Scalar;
      return { l1, kl: klTerm };
    } finally {
      b.dispose();
    }
  };
  return yield* trainModel(vars, loss, {
    model: 'shapes-vae', steps: opts.steps, lr: warmupCosine(lr, opts.steps, 100),
    meta: { config: JSON.stringify(json), seed: String(seed), batch: String(batch), lr: String(lr), kl: String(kl), steps: String(opts.steps) },
    ...runOptions(opts),
  }, vae, () => vae.dispose());
}

/**
 * The latents' scaling factor: 1 / the standard deviation of posterior means over `n` training images (what the
 * SD VAE's 0.18215 is), so that the UNet sees unit-variance latents.
 *
 * @example
 * ```ts
 * latentScale(vae, 256); // e.g. 0.9 (images of WORLD_SIZE pixels)
 * ```
 */
export function latentScale(vae: AutoencoderKL, n = 256, seed = 5, size = WORLD_SIZE): number {
  let sum = 0, sq = 0, count = 0;
  for (let start = 0; start < n; start += 32) {
    const b = shapesBatch(seed, start, Math.min(32, n - start), { size });
    const m = tf.tidy(() => vae.encode(b.images).mean);
    const v = m.dataSync();
    b.dispose();
    m.dispose();
    for (const x of v) (sum += x), (sq += x * x), count++;
  }
  const mean = sum / count;
  return 1 / Math.sqrt(sq / count - mean * mean);
}

/**
 * Writes a diffusers `vae/` folder: `config.json` (with `scaling_factor`) and `diffusion_pytorch_model.safetensors`
 * (float16).
 *
 * @example
 * ```ts
 * await saveVae('weights/sd/vae', vae, latentScale(vae));
 * ```
 */
export async function saveVae(dir: string, vae: AutoencoderKL, scalingFactor: number, config: AutoencoderKLConfig = SHAPES_VAE_CONFIG): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'diffusion_pytorch_model.safetensors'), checkpointOf(leavesByPath(vae.params), vaeWeightShapes(vae.config)), { format: 'pt' });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify({ ...config, scaling_factor: Number(scalingFactor.toPrecision(6)) }, null, 2)}\n`);
}
