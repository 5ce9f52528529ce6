/**
 * The configs of the shapes models, in their upstream formats (diffusers `config.json`, transformers
 * `CLIPConfig`), so that the saved folders are read by semedit's ordinary loaders like any other checkpoint.
 *
 * Sizes, chosen by what 2 CPU cores train in hours and what the edits need:
 * - VAE: 64x64 RGB to 16x16x4 latents (factor 4: three blocks), 32-64 channels.
 * - UNet: 16x16 latents; cross-attention at 16x16 and 8x8 (Prompt-to-Prompt's maps and LocalBlend's mask), a plain
 *   block at 4x4; 64-128 channels; text states of width 64 from the CLIP text tower.
 * - CLIP: text and vision towers of width 64, 3 layers, 4 heads; 64x64 images in 8x8 patches; prompts of at most
 *   32 tokens.
 * @module
 */
import type { CLIPConfig } from '@semedit/core/clip';
import type { UNet2DConditionConfig } from '@semedit/core/unet';
import type { AutoencoderKLConfig } from '@semedit/core/vae';
import { SHAPES_MAX_TOKENS } from './vocab.js';

/**
 * The VAE's diffusers config (`scaling_factor` is measured after training and written into the saved copy).
 *
 * @example
 * ```ts
 * SHAPES_VAE_CONFIG.latent_channels; // 4
 * ```
 */
export const SHAPES_VAE_CONFIG: AutoencoderKLConfig = {
  _class_name: 'AutoencoderKL',
  in_channels: 3,
  out_channels: 3,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
  block_out_channels: [32, 64, 64],
  layers_per_block: 1,
  act_fn: 'silu',
  latent_channels: 4,
  norm_num_groups: 16,
  sample_size: 64,
  scaling_factor: 1,
};

/**
 * The UNet's diffusers config.
 *
 * @example
 * ```ts
 * SHAPES_UNET_CONFIG.sample_size; // 16
 * ```
 */
export const SHAPES_UNET_CONFIG: UNet2DConditionConfig = {
  _class_name: 'UNet2DConditionModel',
  sample_size: 16,
  in_channels: 4,
  out_channels: 4,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  block_out_channels: [64, 128, 128],
  layers_per_block: 1,
  cross_attention_dim: 64,
  attention_head_dim: 4,
  norm_num_groups: 32,
  act_fn: 'silu',
  flip_sin_to_cos: true,
  freq_shift: 0,
};

/**
 * The CLIP model's transformers config (text and vision towers); `vocab_size` and the special ids come from the
 * learnt vocabulary.
 *
 * @param vocabSize the tokenizer's vocabulary size
 * @param bos       id of `<|startoftext|>`
 * @param eos       id of `<|endoftext|>`
 * @example
 * ```ts
 * shapesClipConfig(700, 698, 699).text_config!.max_position_embeddings; // 32
 * ```
 */
export function shapesClipConfig(vocabSize: number, bos: number, eos: number): CLIPConfig {
  return {
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: 64,
    logit_scale_init_value: 2.6592,
    text_config: {
      vocab_size: vocabSize, hidden_size: 64, intermediate_size: 256, num_hidden_layers: 3, num_attention_heads: 4,
      max_position_embeddings: SHAPES_MAX_TOKENS, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5,
      bos_token_id: bos, eos_token_id: eos, pad_token_id: eos, projection_dim: 64,
    },
    vision_config: {
      hidden_size: 64, intermediate_size: 256, num_hidden_layers: 3, num_attention_heads: 4, image_size: 64,
      patch_size: 8, num_channels: 3, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, projection_dim: 64,
    },
  } as CLIPConfig;
}
