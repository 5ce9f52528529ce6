/**
 * StyleCLIP costs at the 256x256 StyleGAN2 config (stylegan2-ada `paper256`) with random weights and a random
 * CLIP ViT-B/32: one latent-optimization step (forward and backprop through synthesis and CLIP, Adam update) and
 * one global-direction edit (W+ -> S, move S along a boundary, synthesize). Ratios to single-threaded wasm in the
 * same run; each configuration in its own child process.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/styleclip.ts [--reps=3] [--warmup=1]
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@semedit/core/backend';
import { ClipModel, buildClipModelParams, clipTextExpectedShapes, clipVisionExpectedShapes, resolveClipConfig, type CLIPConfig } from '@semedit/core/clip';
import { createGenerator } from '@semedit/core';
import type { RawTensor } from '@semedit/core/io';
import { nvlabsGeneratorFromTensors, randomNvlabsWeights, resolveStyleGan2Config, type StyleGan2, type StyleGan2Config } from '@semedit/core/stylegan2';
import { ClipTextLoss, applyGlobalDirection, optimizeLatent, styleSpaceGenerator, wPlusSynthesizer, type OptimizeObserver } from '@semedit/edit';
import { intArg, reportFromChild, runBench, timeIt } from './lib/harness.js';

const reps = intArg('reps', 3);
const warmup = intArg('warmup', 1);
/**
 * stylegan2-ada's `paper256` config: the generator of the StyleCLIP case.
 *
 * @example
 * ```ts
 * resolveStyleGan2Config(G256).numWs; // 14
 * ```
 */
export const G256: StyleGan2Config = {
  z_dim: 512, w_dim: 512, c_dim: 0, img_resolution: 256, img_channels: 3, num_layers: 8,
  channel_base: 16384, channel_max: 512, num_fp16_res: 4, conv_clamp: 256,
};
/**
 * CLIP ViT-B/32 (`openai/clip-vit-base-patch32`'s sizes) as a CLIPConfig.
 *
 * @example
 * ```ts
 * resolveClipConfig(CLIP_VIT_B32).vision.numPatches; // 49
 * ```
 */
export const CLIP_VIT_B32: CLIPConfig = {
  projection_dim: 512,
  text_config: { vocab_size: 49408, hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 8, max_position_embeddings: 77 },
  vision_config: { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, image_size: 224, patch_size: 32 },
};
/**
 * The description's token ids (7 tokens, start and end included).
 *
 * @example
 * ```ts
 * new ClipTextLoss(clip, STYLECLIP_TOKENS);
 * ```
 */
export const STYLECLIP_TOKENS: number[][] = [[49406, 320, 1125, 539, 320, 2533, 49407]];
/**
 * The optimization settings of the step (run_optimization.py's defaults; one step) and the start latent's truncation.
 *
 * @example
 * ```ts
 * optimizeLatent(synth, loss, ws, { steps: STYLECLIP_STEP.steps, lr: STYLECLIP_STEP.lr });
 * ```
 */
export const STYLECLIP_STEP = { steps: 1, lr: 0.1, l2Lambda: 0.008, truncationPsi: 0.7 } as const;
const CLIP = resolveClipConfig(CLIP_VIT_B32);
const CONFIGS: { label: string; opts: Parameters<typeof initBackend>[0] }[] = [
  { label: 'wasm 1 thread', opts: { backend: 'wasm', threads: 1 } },
  { label: 'wasm all threads', opts: { backend: 'wasm' } },
];
interface Row { case: string; backend: string; medianMs: number; minMs: number; reps: number }

/** CLIP (ViT-B/32 vision, 512-wide text) on seeded random weights (seed 3), on the active backend. */
export function randomClip(): ClipModel {
  const gen = createGenerator(3);
  const flat = new Map<string, RawTensor>();
  const shapes = { ...clipTextExpectedShapes(CLIP.text, 512), ...clipVisionExpectedShapes(CLIP.vision, 512) };
  for (const [k, s] of Object.entries(shapes)) {
    const dims = s.map((d) => d ?? 1);
    const data = gen.normal(dims.reduce((a, b) => a * b, 1));
    const norm = /norm|layrnorm/.test(k) && k.endsWith('.weight');
    for (let i = 0; i < data.length; i++) data[i] = norm ? 1 : 0.02 * data[i]!;
    flat.set(k, { dtype: 'float32', shape: dims, data });
  }
  flat.set('logit_scale', { dtype: 'float32', shape: [], data: new Float32Array([Math.log(100)]) });
  return new ClipModel(CLIP, buildClipModelParams(flat, CLIP).params);
}

/** What {@link styleclipSetup} builds: the generator, the W+ start latent and one optimization step. */
export interface StyleclipSetup {
  G: StyleGan2;
  ws: tf.Tensor3D;
  /** One StyleCLIP optimization step (forward, backprop through synthesis and CLIP, Adam update); returns the image. */
  step: () => Promise<tf.Tensor>;
  dispose: () => void;
}

/**
 * One StyleCLIP optimization step from `ws` (a fresh latent and Adam each call, as a one-step run): the generator
 * runs to its first yielded step (forward, backprop, Adam update), then synthesizes the returned image. The text
 * features are computed once, here.
 *
 * @param G      the generator
 * @param clip   the CLIP model
 * @param tokens `[T, L]` token ids of the description
 * @param ws     `[1, num_ws, w_dim]` start latent (not modified)
 * @param onGrad called once, with the first step's gradient `[1, num_ws, w_dim]` (to compare with PyTorch's)
 * @example
 * ```ts
 * const step = styleclipStep(G, clip, STYLECLIP_TOKENS, ws);
 * (await step()).shape; // [1, 256, 256, 3]
 * ```
 */
export function styleclipStep(G: StyleGan2, clip: ClipModel, tokens: number[][], ws: tf.Tensor3D, onGrad?: (g: Float32Array) => void): () => Promise<tf.Tensor> {
  const loss = new ClipTextLoss(clip, tokens);
  let observe: OptimizeObserver | undefined = onGrad && ((name, t) => void (name === 'grad' && onGrad(t.dataSync() as Float32Array)));
  return async () => {
    const { steps, lr, l2Lambda } = STYLECLIP_STEP;
    const run = optimizeLatent(wPlusSynthesizer(G), loss, ws, { steps, lr, l2Lambda, ...(observe ? { observe } : {}) });
    observe = undefined;
    let r = await run.next();
    while (!r.done) r = await run.next();
    r.value.latent.dispose();
    return r.value.image;
  };
}

/**
 * The 256x256 generator (seed 1) and random CLIP (seed 3), the W+ of z seed 7, and one latent-optimization step
 * towards a 7-token prompt, on the active backend.
 *
 * @example
 * ```ts
 * const s = styleclipSetup();
 * (await s.step()).shape; // [1, 256, 256, 3]
 * ```
 */
export function styleclipSetup(): StyleclipSetup {
  const cfg = resolveStyleGan2Config(G256);
  const G = nvlabsGeneratorFromTensors(randomNvlabsWeights(cfg, 1, { noiseStrength: 0.1 }), G256);
  const z = tf.randomNormal([1, 512], 0, 1, 'float32', 7) as tf.Tensor2D;
  const ws = G.mapping(z, { truncationPsi: STYLECLIP_STEP.truncationPsi }) as tf.Tensor3D;
  return { G, ws, step: styleclipStep(G, randomClip(), STYLECLIP_TOKENS, ws), dispose: () => tf.dispose([z, ws]) };
}

async function child(index: number): Promise<void> {
  const c = CONFIGS[index]!;
  const info = await initBackend(c.opts);
  const { G, ws, step } = styleclipSetup();
  const rows: Row[] = [];
  const stepMs: number[] = [];
  for (let i = 0; i < warmup + reps; i++) {
    const t0 = performance.now();
    const image = await step();
    const ms = performance.now() - t0;
    image.dispose();
    if (i >= warmup) stepMs.push(ms);
  }
  const sorted = [...stepMs].sort((a, b) => a - b);
  rows.push({ case: 'StyleCLIP optimization step (256, ViT-B/32)', backend: c.label, medianMs: sorted[sorted.length >> 1]!, minMs: sorted[0]!, reps });
  const gen = styleSpaceGenerator(G);
  const s = gen.stylesFromWPlus(ws) as tf.Tensor2D;
  const boundary = new Float32Array(s.shape[1]).map((_, i) => (i % 97 === 0 ? 1 : 0));
  const t = timeIt(() => tf.tidy(() => void gen.synthesizeStyles(applyGlobalDirection(s, boundary, 4)).dataSync()), { warmup, reps });
  rows.push({ case: 'global-direction edit (S + alpha*boundary -> image, 256)', backend: c.label, ...t });
  reportFromChild(info, rows);
}

function main(): void {
  runBench<Row>({ name: 'styleclip', script: fileURLToPath(import.meta.url), labels: CONFIGS.map((c) => c.label), digits: 0 });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const childIndex = intArg('child', -1 >>> 0);
  if (childIndex !== -1 >>> 0) await child(childIndex);
  else main();
}
