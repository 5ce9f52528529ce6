/**
 * Training the shapes UNet (diffusers `UNet2DConditionModel`, {@link SHAPES_UNET_CONFIG}) on the trained VAE's
 * latents, conditioned on the frozen CLIP text tower, as Stable Diffusion is: ε-prediction with SD's
 * scaled-linear training schedule (1000 steps), uniform timesteps, and the prompt dropped to "" for 10% of rows so
 * that classifier-free guidance works. Batch k of the shapes data set at step k (varied captions); noise and
 * timesteps from seeded generators, so a resumed run sees exactly what it would have. Saved with the scheduler
 * config and `model_index.json` as a diffusers pipeline folder that `loadStableDiffusion` reads.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createGenerator, createScheduler, UNet2DConditionModel, type AutoencoderKL, type ClipTextModel, type ClipTokenizer, type SchedulerConfig } from '@semedit/core';
import { writeSafetensors } from '@semedit/core/io';
import { addNoiseVp } from '@semedit/core/schedulers';
import { resolveUNetConfig, unetWeightShapes, type UNet2DConditionConfig } from '@semedit/core/unet';
import { shapesBatch, WORLD_SIZE } from '../world/dataset.js';
import { runOptions, trainModel, warmupCosine, type TrainOptions } from '../train/loop.js';
import { checkpointOf, initWeights, leavesByPath, makeTrainable, type WeightShapes } from '../train/trainable.js';
import { SHAPES_UNET_CONFIG } from './configs.js';
import { tokenIds } from './clip-train.js';

/**
 * The sampler config saved with the pipeline: DDIM on SD's training schedule.
 *
 * @example
 * ```ts
 * SHAPES_SCHEDULER_CONFIG.beta_schedule; // 'scaled_linear'
 * ```
 */
export const SHAPES_SCHEDULER_CONFIG: SchedulerConfig = {
  _class_name: 'DDIMScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear',
  clip_sample: false, set_alpha_to_one: false, steps_offset: 1, prediction_type: 'epsilon',
} as SchedulerConfig;

/**
 * Options of {@link trainUNet}.
 *
 * @example
 * ```ts
 * const o: TrainUNetOptions = { steps: 20000, batch: 32, vae, textEncoder, tokenizer };
 * ```
 */
export interface TrainUNetOptions extends Pick<TrainOptions, 'checkpoint' | 'checkpointEvery' | 'onProgress'> {
  steps: number;
  /** The trained VAE (frozen). */
  vae: AutoencoderKL;
  /** The trained CLIP text tower (frozen). */
  textEncoder: ClipTextModel;
  tokenizer: ClipTokenizer;
  /** Examples per step (default 32). */
  batch?: number;
  /** Data, noise and initialisation seed (default 1). */
  seed?: number;
  /** Peak learning rate (default 5e-4; warm-up 200 steps, cosine to 10%). */
  lr?: number;
  /** Image side in pixels (default {@link WORLD_SIZE}); latents are this over the VAE's factor. */
  imageSize?: number;
  /** Share of rows trained on the empty prompt (default 0.1). */
  dropPrompt?: number;
  config?: UNet2DConditionConfig;
}

/**
 * Trains the UNet, resuming from `checkpoint` when it exists; yields each step's loss and returns the model (its
 * parameters are the trained variables; the caller disposes it).
 *
 * @example
 * ```ts
 * const run = trainUNet({ steps: 10, vae, textEncoder, tokenizer });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * r.value.dispose();
 * ```
 */
export async function* trainUNet(opts: TrainUNetOptions): AsyncGenerator<{ step: number; losses: Record<string, number> }, UNet2DConditionModel> {
  const json = opts.config ?? SHAPES_UNET_CONFIG;
  const cfg = resolveUNetConfig(json);
  const seed = opts.seed ?? 1, batch = opts.batch ?? 32, lr = opts.lr ?? 5e-4, drop = opts.dropPrompt ?? 0.1;
  const unet = UNet2DConditionModel.fromWeights(initWeights(unetWeightShapes(cfg) as WeightShapes, seed, (key) => (key.startsWith('conv_out.') ? { kind: 'zeros' } : undefined)), cfg);
  const vars = makeTrainable(unet.params, 'unet');
  const { alphasCumprod } = createScheduler(SHAPES_SCHEDULER_CONFIG).schedule;
  const T = alphasCumprod.length;
  const factor = 2 ** (opts.vae.config.blockOutChannels.length - 1);
  const size = opts.imageSize ?? WORLD_SIZE;
  const loss = (step: number): Record<string, tf.Scalar> => {
    const gen = createGenerator(seed * 7_919 + step);
    const b = shapesBatch(seed, step * batch, batch, { size });
    try {
      const prompts = b.examples.map((e) => (gen.nextDouble() < drop ? '' : e.caption));
      const latentShape: [number, number, number, number] = [batch, size / factor, size / factor, opts.vae.config.latentChannels];
      const n = latentShape.reduce((a, c) => a * c, 1);
      const x0 = tf.tidy(() => opts.vae.scaleLatents(opts.vae.encode(b.images, { noise: tf.tensor4d(gen.normal(n), latentShape) }).sample!));
      const ehs = tf.tidy(() => opts.textEncoder.forward(tokenIds(opts.tokenizer, prompts)).lastHiddenState);
      const eps = tf.tensor4d(gen.normal(n), latentShape);
      const t = Array.from({ length: batch }, () => Math.min(T - 1, Math.floor(gen.nextDouble() * T)));
      const xt = addNoiseVp(alphasCumprod, x0, eps, t);
      return { mse: tf.mean(tf.square(tf.sub(unet.forward(xt, t, ehs), eps))) as tf.Scalar };
    } finally {
      b.dispose();
    }
  };
  return yield* trainModel(vars, loss, {
    model: 'shapes-unet', steps: opts.steps, lr: warmupCosine(lr, opts.steps, 200),
    meta: { config: JSON.stringify(json), seed: String(seed), batch: String(batch), lr: String(lr), drop: String(drop), steps: String(opts.steps) },
    ...runOptions(opts),
  }, unet, () => unet.dispose());
}

/**
 * Writes the pipeline's `unet/` (config and float16 weights), `scheduler/` and `model_index.json` into `dir`, beside
 * the `vae/` and `text_encoder/` that `saveVae` and `saveClip` write; the caller adds `tokenizer/`
 * (`writeShapesTokenizer`).
 *
 * @example
 * ```ts
 * await saveUNet('weights/sd', unet);
 * const sd = await loadStableDiffusion('weights/sd');
 * ```
 */
export async function saveUNet(dir: string, unet: UNet2DConditionModel, config: UNet2DConditionConfig = SHAPES_UNET_CONFIG): Promise<void> {
  await mkdir(join(dir, 'unet'), { recursive: true });
  await mkdir(join(dir, 'scheduler'), { recursive: true });
  await writeSafetensors(join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), checkpointOf(leavesByPath(unet.params), unetWeightShapes(unet.config) as WeightShapes), { format: 'pt' });
  await writeFile(join(dir, 'unet', 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, 'scheduler', 'scheduler_config.json'), `${JSON.stringify(SHAPES_SCHEDULER_CONFIG, null, 2)}\n`);
  await writeFile(join(dir, 'model_index.json'), `${JSON.stringify({
    _class_name: 'StableDiffusionPipeline', scheduler: ['diffusers', 'DDIMScheduler'], text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'], unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'],
    safety_checker: [null, null], feature_extractor: [null, null], requires_safety_checker: false,
  }, null, 2)}\n`);
}
