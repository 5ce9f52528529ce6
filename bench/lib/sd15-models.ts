/**
 * The real Stable Diffusion 1.5 model configs and seeded random checkpoint-layout weights for them, shared by the
 * benches that time SD 1.5 at real size.
 */
import { createGenerator } from '@semedit/core';
import type { RawTensor } from '@semedit/core/io';
import type { UNet2DConditionConfig } from '@semedit/core/unet';
import type { AutoencoderKLConfig } from '@semedit/core/vae';

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** runwayml/stable-diffusion-v1-5 `unet/config.json`. */
export const SD15_UNET: UNet2DConditionConfig = {
  _class_name: 'UNet2DConditionModel', act_fn: 'silu', attention_head_dim: 8, block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false, cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1, flip_sin_to_cos: true, freq_shift: 0, in_channels: 4, layers_per_block: 2, mid_block_scale_factor: 1,
  norm_eps: 1e-5, norm_num_groups: 32, out_channels: 4, sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
};
/** runwayml/stable-diffusion-v1-5 `vae/config.json`. */
export const SD_VAE: AutoencoderKLConfig = {
  _class_name: 'AutoencoderKL', act_fn: 'silu', block_out_channels: [128, 256, 512, 512],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  in_channels: 3, latent_channels: 4, layers_per_block: 2, norm_num_groups: 32, out_channels: 3, sample_size: 512,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
};

/**
 * Checkpoint-layout random tensors for the given keys: norm weights 1, biases 0, other weights N(0, 1/fan_in)
 * (so activations keep unit scale through the network: no overflow, no denormals to slow the kernels). Values are
 * read from one seeded pool of 2^20 normals at a random offset per tensor: filling 860M values from the Philox
 * generator itself would take minutes, and the values do not change the timing.
 */
export function randomWeights(shapes: Readonly<Record<string, number[]>>, keys: Iterable<string>, seed: number): Map<string, RawTensor> {
  const gen = createGenerator(seed);
  const mask = (1 << 20) - 1;
  const pool = gen.normal(mask + 1);
  const out = new Map<string, RawTensor>();
  for (const key of keys) {
    const shape = shapes[key]!;
    const data = new Float32Array(size(shape));
    if (shape.length === 1) {
      if (/norm[^.]*\.weight$/.test(key)) data.fill(1);
    } else {
      const scale = 1 / Math.sqrt(size(shape) / shape[0]!);
      const off = gen.nextUint32() & mask;
      for (let i = 0; i < data.length; i++) data[i] = pool[(off + i) & mask]! * scale;
    }
    out.set(key, { dtype: 'float32', shape, data });
  }
  return out;
}

