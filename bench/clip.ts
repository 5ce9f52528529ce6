/**
 * CLIP at real sizes with random weights: the ViT-L/14 text encoder (SD 1.x's, one 77-token prompt) and the
 * ViT-B/32 image encoder (one 224x224 image), ms per call on each backend available, as a ratio to the stock
 * single-threaded wasm build measured in the same run. Each backend runs in its own child process (same weights,
 * same seed), so one configuration's heap and worker pool cannot slow the next.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/clip.ts [--reps=5] [--warmup=1] [--cpu=1]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import {
  ClipTextModelWithProjection, ClipVisionModelWithProjection, buildClipTextParams, buildClipVisionParams,
  clipTextExpectedShapes, clipVisionExpectedShapes, resolveClipTextConfig, resolveClipVisionConfig,
} from '@semedit/core/clip';
import { createGenerator } from '@semedit/core';
import type { RawTensor } from '@semedit/core/io';
import { fileURLToPath } from 'node:url';
import { intArg, reportFromChild, runBench, timeIt } from './lib/harness.js';

const reps = intArg('reps', 5);
const warmup = intArg('warmup', 1);
const withCpu = intArg('cpu', 1) > 0;

// openai/clip-vit-large-patch14 text tower and openai/clip-vit-base-patch32 vision tower (transformers configs).
/** openai/clip-vit-large-patch14's text tower (SD 1.x's text encoder). */
export const textCfg = resolveClipTextConfig({
  vocab_size: 49408, hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12,
  max_position_embeddings: 77, hidden_act: 'quick_gelu', projection_dim: 768,
});
const visionCfg = resolveClipVisionConfig({
  hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, image_size: 224,
  patch_size: 32, hidden_act: 'quick_gelu', projection_dim: 512,
});

/** Seeded random CLIP weights: LayerNorm weights 1, everything else N(0, 0.02²). */
export function randomWeights(shapes: Readonly<Record<string, readonly (number | null)[]>>, seed: number): Map<string, RawTensor> {
  const gen = createGenerator(seed);
  const out = new Map<string, RawTensor>();
  for (const [k, s] of Object.entries(shapes)) {
    const dims = s.map((d) => d ?? 1);
    const data = gen.normal(dims.reduce((a, b) => a * b, 1));
    const scale = /norm|layrnorm/.test(k) && k.endsWith('.weight') ? 0 : 0.02;
    for (let i = 0; i < data.length; i++) data[i] = (scale === 0 ? 1 : 0) + scale * data[i]!;
    out.set(k, { dtype: 'float32', shape: dims, data });
  }
  return out;
}

/** The 77 token ids every CLIP text timing encodes (bos, 75 word ids, eos). */
export const CLIP_IDS: number[][] = [[49406, ...Array.from({ length: 75 }, (_, i) => 320 + i), 49407]];
const ids = CLIP_IDS;

/**
 * The ViT-L/14 text encoder with projection on seeded random weights (seed 1), on the active backend.
 *
 * @example
 * ```ts
 * const text = clipTextL14();
 * text.forward(CLIP_IDS).textEmbeds.shape; // [1, 768]
 * ```
 */
export function clipTextL14(): ClipTextModelWithProjection {
  const flat = randomWeights(clipTextExpectedShapes(textCfg, 768), 1);
  return new ClipTextModelWithProjection(textCfg, buildClipTextParams(flat, textCfg, { projection: true }).params as never);
}

interface Row { case: string; backend: string; medianMs: number; minMs: number; reps: number }

const CONFIGS: { label: string; opts: Parameters<typeof initBackend>[0] }[] = [
  { label: 'wasm 1 thread (stock build)', opts: { backend: 'wasm', threads: 1 } },
  { label: 'wasm all threads', opts: { backend: 'wasm' } },
  ...(withCpu ? [{ label: 'cpu', opts: { backend: 'cpu' as const } }] : []),
];

/** Runs one configuration in this process and prints its rows as JSON. */
async function child(index: number): Promise<void> {
  const c = CONFIGS[index]!;
  const info = await initBackend(c.opts);
  const textFlat = randomWeights(clipTextExpectedShapes(textCfg, 768), 1);
  const visionFlat = randomWeights(clipVisionExpectedShapes(visionCfg, 512), 2);
  const text = new ClipTextModelWithProjection(textCfg, buildClipTextParams(textFlat, textCfg, { projection: true }).params as never);
  const vision = new ClipVisionModelWithProjection(visionCfg, buildClipVisionParams(visionFlat, visionCfg, { projection: true }).params as never);
  const pixels = tf.randomNormal([1, 224, 224, 3]);
  const r = c.label === 'cpu' ? 1 : reps;
  const w = c.label === 'cpu' ? 0 : warmup;
  const rows: Row[] = [];
  const t = timeIt(() => { const o = text.forward(ids); o.textEmbeds.dataSync(); tf.dispose(Object.values(o).flat() as tf.Tensor[]); }, { warmup: w, reps: r });
  rows.push({ case: 'CLIP ViT-L/14 text [1,77]', backend: c.label, ...t });
  const v = timeIt(() => { const o = vision.forward(pixels); o.imageEmbeds.dataSync(); tf.dispose(Object.values(o).flat() as tf.Tensor[]); }, { warmup: w, reps: r });
  rows.push({ case: 'CLIP ViT-B/32 image [1,224,224,3]', backend: c.label, ...v });
  reportFromChild(info, rows);
}

function main(): void {
  runBench<Row>({ name: 'clip', script: fileURLToPath(import.meta.url), labels: CONFIGS.map((c) => c.label) });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const childIndex = intArg('child', -1 >>> 0);
  if (childIndex !== -1 >>> 0) await child(childIndex);
  else main();
}
