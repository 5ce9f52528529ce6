/**
 * Training the shapes CLIP (transformers `CLIPModel`, {@link shapesClipConfig}) contrastively on image-caption
 * pairs with semedit's own model code: batch k of the shapes data set at step k, captions in their varied
 * templates, the symmetric cross-entropy of CLIP. Images enter as the data set's [-1, 1] pixels at 64x64 (no
 * mean/std step; the saved `preprocessor_config.json` says so). Saved as an HF CLIP folder (float16) with the
 * tokenizer, and its text tower as a diffusers `text_encoder/`.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ClipModel, createGenerator, type ClipTokenizer } from '@semedit/core';
import { writeSafetensors } from '@semedit/core/io';
import {
  buildClipModelParams, clipImageFeatures, clipLogits, clipTextExpectedShapes, clipTextFeatures, clipVisionExpectedShapes, resolveClipConfig,
  type CLIPConfig, type ResolvedClipConfig,
} from '@semedit/core/clip';
import { shapesBatch, WORLD_SIZE } from '../world/dataset.js';
import { captionOf } from '../world/caption.js';
import { COLOUR_NAMES, POSITIONS, SHAPES, SIZES, type Scene } from '../world/scene.js';
import { runOptions, trainModel, warmupCosine, type TrainOptions } from '../train/loop.js';
import { checkpointOf, initWeights, leavesByPath, makeTrainable, type WeightShapes } from '../train/trainable.js';
import { shapesClipConfig } from './configs.js';
import { shapesTokenizer, writeShapesTokenizer } from './vocab.js';

/**
 * Options of {@link trainClip}.
 *
 * @example
 * ```ts
 * const o: TrainClipOptions = { steps: 3000, batch: 64, checkpoint: '.shapes-train/clip.safetensors' };
 * ```
 */
export interface TrainClipOptions extends Pick<TrainOptions, 'checkpoint' | 'checkpointEvery' | 'onProgress'> {
  steps: number;
  /** Image-caption pairs per step (default 64). */
  batch?: number;
  /** Data and initialisation seed (default 1). */
  seed?: number;
  /** Peak learning rate (default 1e-3; warm-up 100 steps, cosine to 10%). */
  lr?: number;
  /**
   * Add each one-object caption with its shape or position changed as a negative text (default false: measured,
   * 1500 steps gave held-out shape 48% and position 46% with them, against 60% and 43% without).
   */
  hardNegatives?: boolean;
}

/** The shapes CLIP's config for a tokenizer. @example `shapesClipConfigFor(shapesTokenizer()).text_config!.vocab_size; // 607` */
export function shapesClipConfigFor(tok: ClipTokenizer): CLIPConfig {
  const id = (t: string): number => tok.spec.vocab.get(t)!;
  return shapesClipConfig(tok.spec.vocab.size, id(tok.spec.special.bos), id(tok.spec.special.eos));
}

/** Token ids of prompts, padded to the tokenizer's length. */
export function tokenIds(tok: ClipTokenizer, prompts: readonly string[]): number[][] {
  return prompts.map((p) => tok.encode(p, { onTruncate: 'error' }).ids);
}

/**
 * Trains CLIP, resuming from `checkpoint` when it exists; yields each step's losses and returns the model (its
 * parameters are the trained variables; the caller disposes it).
 *
 * @example
 * ```ts
 * const run = trainClip({ steps: 10 });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * r.value.dispose();
 * ```
 */
export async function* trainClip(opts: TrainClipOptions): AsyncGenerator<{ step: number; losses: Record<string, number> }, ClipModel> {
  const tok = shapesTokenizer();
  const json = shapesClipConfigFor(tok);
  const cfg = resolveClipConfig(json);
  const seed = opts.seed ?? 1, batch = opts.batch ?? 64, lr = opts.lr ?? 1e-3, hard = opts.hardNegatives ?? false;
  const shapes = { ...clipTextExpectedShapes(cfg.text, cfg.projectionDim), ...clipVisionExpectedShapes(cfg.vision, cfg.projectionDim), logit_scale: [] };
  // logit_scale is set to its config value below; its 'normal' draw with std 0 keeps the generator's stream as the
  // shipped run drew it, so the other weights start where they did.
  const weights = initWeights(shapes, seed, (key) => (key === 'logit_scale' ? { kind: 'normal', std: 0 } : undefined));
  weights.set('logit_scale', { dtype: 'float32', shape: [], data: new Float32Array([cfg.logitScaleInitValue]) });
  const model = new ClipModel(cfg, buildClipModelParams(weights, cfg).params);
  const vars = makeTrainable(model.params, 'clip');
  const loss = (step: number): Record<string, tf.Scalar> => {
    const b = shapesBatch(seed, step * batch, batch, { size: cfg.vision.imageSize });
    try {
      // Hard negatives: each one-object caption again with its shape or position changed (what random batches rarely
      // contrast), as extra texts the images must score below their own captions.
      const gen = hard ? createGenerator(seed * 104_729 + step) : undefined;
      const negatives = gen ? b.examples.flatMap((e) => (e.scene.objects.length === 1 ? [hardNegative(e.scene, gen.nextDouble(), gen.nextDouble())] : [])) : [];
      const ids = tokenIds(tok, [...b.examples.map((e) => e.caption), ...negatives]);
      const scale = tf.minimum(model.params.logit_scale, Math.log(100)) as tf.Scalar;
      const { logitsPerImage } = clipLogits(clipImageFeatures(model.params, cfg, b.images), clipTextFeatures(model.params, cfg, ids), scale);
      const texts = batch + negatives.length;
      const imageToText = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.range(0, batch, 1, 'int32'), texts), logitsPerImage) as tf.Scalar;
      const own = tf.transpose(tf.slice(logitsPerImage, [0, 0], [batch, batch])) as tf.Tensor2D;
      const textToImage = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.range(0, batch, 1, 'int32'), batch), own) as tf.Scalar;
      return { contrastive: tf.div(tf.add(imageToText, textToImage), 2) as tf.Scalar };
    } finally {
      b.dispose();
    }
  };
  return yield* trainModel(vars, loss, {
    model: 'shapes-clip', steps: opts.steps, lr: warmupCosine(lr, opts.steps, 100),
    meta: { config: JSON.stringify(json), seed: String(seed), batch: String(batch), lr: String(lr), hard: String(hard), steps: String(opts.steps) },
    ...runOptions(opts),
  }, model, () => model.dispose());
}

/** The attributes CLIP is scored on, with the values each can take. */
const ATTRIBUTES = { shape: SHAPES, colour: COLOUR_NAMES, size: SIZES, position: POSITIONS, background: COLOUR_NAMES } as const;

/** The caption of a one-object scene with its shape or position (by `u`) changed to another value (by `v`). */
function hardNegative(scene: Scene, u: number, v: number): string {
  const attr = u < 0.5 ? 'shape' : 'position';
  const current = scene.objects[0]![attr];
  const others = (ATTRIBUTES[attr] as readonly string[]).filter((x) => x !== current);
  return captionOf(withAttribute(scene, attr, others[Math.floor(v * others.length)]!)!);
}

/** A one-object scene with one attribute set to another value (the background never equals the object's colour). */
function withAttribute(scene: Scene, attr: keyof typeof ATTRIBUTES, value: string): Scene | undefined {
  const o = scene.objects[0]!;
  const next: Scene = attr === 'background' ? { ...scene, background: value as Scene['background'] } : { ...scene, objects: [{ ...o, [attr]: value }] };
  return next.objects[0]!.colour === next.background ? undefined : next;
}

/**
 * Zero-shot attribute accuracy on held-out one-object scenes: for each attribute, the share of images whose
 * canonical caption scores highest among the captions that differ from it in that attribute only.
 *
 * @example
 * ```ts
 * clipAttributeAccuracy(clip, tok, 128); // { shape: 0.97, colour: 0.99, size: 0.95, position: 0.98, background: 1 }
 * ```
 */
export function clipAttributeAccuracy(model: ClipModel, tok: ClipTokenizer, n = 128, seed = 2): Record<keyof typeof ATTRIBUTES, number> {
  const right = { shape: 0, colour: 0, size: 0, position: 0, background: 0 };
  const b = shapesBatch(seed, 0, n, { split: 'eval', size: model.config.vision.imageSize, twoObjects: 0 });
  // Every candidate caption once, encoded in batches; then each image against its candidates.
  const candidates = b.examples.map((e) => Object.fromEntries((Object.keys(ATTRIBUTES) as (keyof typeof ATTRIBUTES)[]).map((attr) => {
    const scenes = ATTRIBUTES[attr].map((v) => withAttribute(e.scene, attr, v)).filter((s): s is Scene => s !== undefined);
    return [attr, { captions: scenes.map((s) => captionOf(s)), truth: scenes.findIndex((s) => captionOf(s) === captionOf(e.scene)) }];
  })) as Record<keyof typeof ATTRIBUTES, { captions: string[]; truth: number }>);
  const unique = [...new Set(candidates.flatMap((c) => Object.values(c).flatMap((v) => v.captions)))];
  const row = new Map(unique.map((c, i) => [c, i]));
  const scores = tf.tidy(() => {
    const text = tf.concat(Array.from({ length: Math.ceil(unique.length / 256) }, (_, k) =>
      clipTextFeatures(model.params, model.config, tokenIds(tok, unique.slice(k * 256, (k + 1) * 256)))));
    return clipLogits(clipImageFeatures(model.params, model.config, b.images), text as tf.Tensor2D, 0).logitsPerImage;
  });
  const s = scores.dataSync();
  scores.dispose();
  b.dispose();
  candidates.forEach((c, i) => {
    for (const [attr, { captions, truth }] of Object.entries(c) as [keyof typeof ATTRIBUTES, { captions: string[]; truth: number }][]) {
      const values = captions.map((cap) => s[i * unique.length + row.get(cap)!]!);
      if (values.indexOf(Math.max(...values)) === truth) right[attr]++;
    }
  });
  return Object.fromEntries(Object.entries(right).map(([k, v]) => [k, v / n])) as Record<keyof typeof ATTRIBUTES, number>;
}

/**
 * Writes the HF CLIP folder (`config.json`, `model.safetensors` float16, `preprocessor_config.json`, the
 * tokenizer) and, when `textEncoderDir` is given, the text tower alone as a diffusers `text_encoder/` folder.
 *
 * @example
 * ```ts
 * await saveClip('weights/clip', model, 'weights/sd/text_encoder');
 * ```
 */
export async function saveClip(dir: string, model: ClipModel, textEncoderDir?: string): Promise<void> {
  const cfg: ResolvedClipConfig = model.config;
  const tok = shapesTokenizer();
  const json = shapesClipConfigFor(tok);
  const leaves = leavesByPath(model.params);
  await mkdir(dir, { recursive: true });
  const shapes = { ...clipTextExpectedShapes(cfg.text, cfg.projectionDim), ...clipVisionExpectedShapes(cfg.vision, cfg.projectionDim), logit_scale: [] };
  await writeSafetensors(join(dir, 'model.safetensors'), checkpointOf(leaves, shapes), { format: 'pt' });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(join(dir, 'preprocessor_config.json'), `${JSON.stringify({
    image_processor_type: 'CLIPImageProcessor', do_resize: false, do_center_crop: false, do_rescale: true, rescale_factor: 2 / 255, do_normalize: true,
    image_mean: [1, 1, 1], image_std: [1, 1, 1], size: { shortest_edge: WORLD_SIZE }, crop_size: { height: WORLD_SIZE, width: WORLD_SIZE },
    note: 'pixels in [-1, 1]: x / 127.5 - 1',
  }, null, 2)}\n`);
  await writeShapesTokenizer(dir);
  if (textEncoderDir === undefined) return;
  await mkdir(textEncoderDir, { recursive: true });
  const textShapes = clipTextExpectedShapes(cfg.text, false) as WeightShapes; // no dynamic dimensions in a text tower
  await writeSafetensors(join(textEncoderDir, 'model.safetensors'), checkpointOf(leaves, textShapes), { format: 'pt' });
  await writeFile(join(textEncoderDir, 'config.json'), `${JSON.stringify({ architectures: ['CLIPTextModel'], model_type: 'clip_text_model', ...json.text_config }, null, 2)}\n`);
}
