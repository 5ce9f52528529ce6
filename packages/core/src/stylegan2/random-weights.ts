/**
 * Seeded random StyleGAN2 weights in NVLabs key names, initialized as stylegan2-ada does at construction
 * (FC weights `randn / lr_multiplier`, biases 0, affine biases 1, conv kernels `randn`, noise strength 0,
 * `noise_const` `randn`, `w_avg` 0): for benchmarks at real sizes and for tests that need a generator of any config.
 * @module
 */
import type { RawTensor } from '../io/types.js';
import { createGenerator } from '../random.js';
import type { ResolvedStyleGan2Config } from './config.js';
import { expectedNvlabsShapes, resampleFilter2d } from './params.js';

/**
 * Random weights for a config, keyed as an NVLabs `G.state_dict()` (feed to `nvlabsGeneratorFromTensors`).
 *
 * @param cfg  resolved config
 * @param seed PRNG seed (default 0)
 * @param opts `noiseStrength` (default 0, the reference init; nonzero makes the noise path matter)
 * @example
 * ```ts
 * const cfg = resolveStyleGan2Config({ z_dim: 512, w_dim: 512, img_resolution: 1024 });
 * const G = nvlabsGeneratorFromTensors(randomNvlabsWeights(cfg, 1), { z_dim: 512, w_dim: 512, img_resolution: 1024 });
 * ```
 */
export function randomNvlabsWeights(cfg: ResolvedStyleGan2Config, seed = 0, opts: { noiseStrength?: number } = {}): Map<string, RawTensor> {
  const gen = createGenerator(seed);
  const out = new Map<string, RawTensor>();
  const filter = resampleFilter2d(cfg.resampleFilter);
  for (const [key, shape] of Object.entries(expectedNvlabsShapes(cfg))) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (key.endsWith('resample_filter')) data = filter.slice();
    else if (key.endsWith('noise_strength')) data = new Float32Array([opts.noiseStrength ?? 0]);
    else if (key === 'mapping.w_avg') data = new Float32Array(n);
    else if (key.endsWith('affine.bias')) data = new Float32Array(n).fill(1);
    else if (key.endsWith('.bias')) data = new Float32Array(n);
    else {
      data = gen.normal(n);
      if (key.startsWith('mapping.fc')) for (let i = 0; i < n; i++) data[i] = data[i]! / cfg.lrMultiplier;
    }
    out.set(key, { dtype: 'float32', shape, data });
  }
  return out;
}
