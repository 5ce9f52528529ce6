/**
 * Test support for the CLIP tests (not exported by the package): the backends they run on (`cpu` always, `wasm`
 * through the project's {@link initBackend} when it loads here), and tiny random CLIP checkpoints in HF key layout.
 * @module
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import type { RawTensor } from '../io/types.js';
import { createGenerator } from '../random.js';
import type { CLIPConfig } from './config.js';
import { resolveClipConfig } from './config.js';
import { clipTextExpectedShapes, clipVisionExpectedShapes } from './params.js';

/**
 * A backend a test runs on.
 *
 * @example
 * ```ts
 * const b: TestBackend = 'wasm';
 * ```
 */
export type TestBackend = 'cpu' | 'wasm';

/**
 * Activates a backend: `cpu` with `tf.setBackend`, `wasm` with {@link initBackend}.
 *
 * @param name the backend
 * @example
 * ```ts
 * beforeAll(() => useBackend('cpu'));
 * ```
 */
export async function useBackend(name: TestBackend): Promise<void> {
  if (name === 'wasm') await initBackend({ backend: 'wasm' });
  else if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialize');
}

/**
 * The backends available here: `cpu`, plus `wasm` when {@link initBackend} can load it (the reason it cannot is
 * printed, never swallowed silently).
 *
 * @example
 * ```ts
 * describe.each(await availableBackends())('on %s', (backend) => { ... });
 * ```
 */
export async function availableBackends(): Promise<TestBackend[]> {
  try {
    await initBackend({ backend: 'wasm' });
    return ['cpu', 'wasm'];
  } catch (e) {
    console.warn(`CLIP tests: wasm backend unavailable, running on cpu only: ${(e as Error).message}`);
    return ['cpu'];
  }
}

/**
 * The project's default backend ({@link initBackend} with no options), for the checks that must pass there.
 *
 * @example
 * ```ts
 * const name = await useDefaultBackend(); // 'wasm'
 * ```
 */
export async function useDefaultBackend(): Promise<string> {
  return (await initBackend()).name;
}

/**
 * A tiny `CLIPConfig` (2 text layers, 1 vision layer, width 8, 8×8 images in 4×4 patches, vocabulary 50).
 *
 * @example
 * ```ts
 * resolveClipConfig(TINY_CLIP_CONFIG).vision.numPatches; // 4
 * ```
 */
export const TINY_CLIP_CONFIG: CLIPConfig = {
  model_type: 'clip',
  projection_dim: 4,
  text_config: {
    vocab_size: 50, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2,
    max_position_embeddings: 7, projection_dim: 4, eos_token_id: 49, bos_token_id: 48, pad_token_id: 0,
  },
  vision_config: {
    hidden_size: 8, intermediate_size: 12, num_hidden_layers: 1, num_attention_heads: 2, image_size: 8, patch_size: 4,
    projection_dim: 4, hidden_act: 'gelu',
  },
};

/**
 * Seeded random weights for {@link TINY_CLIP_CONFIG} (or another config) under transformers' `CLIPModel` keys,
 * linear weights `[out, in]` as in real checkpoints; LayerNorm weights around 1, `logit_scale` = ln(10).
 *
 * @param config a CLIPConfig JSON
 * @param seed   generator seed
 * @example
 * ```ts
 * const flat = tinyClipWeights(TINY_CLIP_CONFIG, 1); // Map { 'text_model.embeddings.token_embedding.weight' => ..., ... }
 * ```
 */
export function tinyClipWeights(config: CLIPConfig = TINY_CLIP_CONFIG, seed = 0): Map<string, RawTensor> {
  const cfg = resolveClipConfig(config);
  const gen = createGenerator(seed);
  const shapes = { ...clipTextExpectedShapes(cfg.text, cfg.projectionDim), ...clipVisionExpectedShapes(cfg.vision, cfg.projectionDim) };
  const out = new Map<string, RawTensor>();
  for (const [key, shape] of Object.entries(shapes)) {
    const dims = shape as number[];
    const data = gen.normal(dims.reduce((a, b) => a * b, 1));
    const isNormWeight = /(layer_norm\d|layrnorm|layernorm)\.weight$/.test(key);
    for (let i = 0; i < data.length; i++) data[i] = (isNormWeight ? 1 : 0) + 0.3 * data[i]!;
    out.set(key, { dtype: 'float32', shape: dims, data });
  }
  out.set('logit_scale', { dtype: 'float32', shape: [], data: new Float32Array([Math.log(10)]) });
  return out;
}
