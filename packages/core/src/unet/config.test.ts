/**
 * resolveUNetConfig on committed copies of the SD 1.5 and SD 2.1-base `unet/config.json` files (reference
 * values: the published parameter counts 859,520,964 and 865,910,724 and 686 tensors; heads and head sizes as
 * diffusers builds them), the quirks it normalizes, and the typed errors for unsupported or malformed settings.
 */
import { describe, expect, it } from 'vitest';
import { resolveUNetConfig, type UNet2DConditionConfig } from './config.js';
import { unetWeightShapes } from './params.js';
import { InvalidConfigError, UnsupportedConfigError } from '../errors.js';

const DOWN = ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'];
const UP = ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'];
/** runwayml/stable-diffusion-v1-5 unet/config.json */
const SD15: UNet2DConditionConfig = {
  _class_name: 'UNet2DConditionModel', _diffusers_version: '0.6.0', act_fn: 'silu', attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280], center_input_sample: false, cross_attention_dim: 768, down_block_types: DOWN,
  downsample_padding: 1, flip_sin_to_cos: true, freq_shift: 0, in_channels: 4, layers_per_block: 2, mid_block_scale_factor: 1,
  norm_eps: 1e-5, norm_num_groups: 32, out_channels: 4, sample_size: 64, up_block_types: UP,
};
/** stabilityai/stable-diffusion-2-1-base unet/config.json */
const SD21_BASE: UNet2DConditionConfig = {
  _class_name: 'UNet2DConditionModel', _diffusers_version: '0.10.0.dev0', act_fn: 'silu', attention_head_dim: [5, 10, 20, 20],
  block_out_channels: [320, 640, 1280, 1280], center_input_sample: false, cross_attention_dim: 1024, down_block_types: DOWN,
  downsample_padding: 1, dual_cross_attention: false, flip_sin_to_cos: true, freq_shift: 0, in_channels: 4, layers_per_block: 2,
  mid_block_scale_factor: 1, norm_eps: 1e-5, norm_num_groups: 32, num_class_embeds: null, only_cross_attention: false,
  out_channels: 4, sample_size: 64, up_block_types: UP, use_linear_projection: true,
};

const count = (shapes: Record<string, number[]>) => Object.values(shapes).reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);

describe('resolveUNetConfig', () => {
  it('SD 1.5: one head count (attention_head_dim = 8 heads), head sizes 40/80/160, 859,520,964 parameters', () => {
    const cfg = resolveUNetConfig(SD15);
    expect(cfg.down.map((b) => b.attention && [b.attention.heads, b.attention.headDim])).toEqual([[8, 40], [8, 80], [8, 160], null]);
    expect(cfg.up.map((b) => b.attention && [b.attention.heads, b.attention.headDim])).toEqual([null, [8, 160], [8, 80], [8, 40]]);
    expect([cfg.mid!.attention.heads, cfg.mid!.attention.headDim]).toEqual([8, 160]);
    expect(cfg.up.map((b) => b.resnets.map((r) => r.inChannels))).toEqual([[2560, 2560, 2560], [2560, 2560, 1920], [1920, 1280, 960], [960, 640, 640]]);
    expect([cfg.timeEmbedDim, cfg.crossAttentionDim, cfg.useLinearProjection]).toEqual([1280, 768, false]);
    const shapes = unetWeightShapes(cfg);
    expect([Object.keys(shapes).length, count(shapes)]).toEqual([686, 859_520_964]);
    expect(shapes['down_blocks.0.attentions.0.proj_in.weight']).toEqual([320, 320, 1, 1]);
  });

  it('SD 2.1-base: per-block heads [5, 10, 20, 20] of 64 channels, reversed for up blocks, linear projections', () => {
    const cfg = resolveUNetConfig(SD21_BASE);
    expect(cfg.down.map((b) => b.attention?.heads)).toEqual([5, 10, 20, undefined]);
    expect(cfg.up.map((b) => b.attention?.heads)).toEqual([undefined, 20, 10, 5]);
    expect([cfg.mid!.attention.heads, ...cfg.down.slice(0, 3).map((b) => b.attention!.headDim)]).toEqual([20, 64, 64, 64]);
    const shapes = unetWeightShapes(cfg);
    expect([Object.keys(shapes).length, count(shapes)]).toEqual([686, 865_910_724]);
    expect(shapes['down_blocks.0.attentions.0.proj_in.weight']).toEqual([320, 320]);
    expect(shapes['down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight']).toEqual([320, 1024]);
  });

  it('fills diffusers defaults for an empty config (the SD 1.x architecture with 1280-wide cross-attention)', () => {
    const cfg = resolveUNetConfig({});
    expect([cfg.blockOutChannels, cfg.crossAttentionDim, cfg.down[0]!.resnets.length, cfg.normEps]).toEqual([[320, 640, 1280, 1280], 1280, 2, 1e-5]);
  });

  it('accepts per-block lists for layers, only_cross_attention and transformer layers, and per-layer lists with their reverse', () => {
    const cfg = resolveUNetConfig({
      block_out_channels: [32, 64], down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'], up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      layers_per_block: [1, 2], attention_head_dim: [2, 4], cross_attention_dim: 16, only_cross_attention: [true, false],
      transformer_layers_per_block: [[1], [2, 3]], reverse_transformer_layers_per_block: [[1, 1, 1], [2, 2]], norm_num_groups: 8,
    });
    expect(cfg.down.map((b) => b.attention!.transformerLayers)).toEqual([[1], [2, 3]]);
    expect(cfg.up.map((b) => b.attention!.transformerLayers)).toEqual([[1, 1, 1], [2, 2]]);
    expect(cfg.up.map((b) => b.attention!.onlyCrossAttention)).toEqual([false, true]);
    expect(cfg.mid!.attention.transformerLayers).toEqual([2]);
  });

  it.each([
    [{ class_embed_type: 'timestep' }, /class_embed_type="timestep"/],
    [{ addition_embed_type: 'text_time' }, /addition_embed_type/],
    [{ time_embedding_type: 'fourier' }, /time_embedding_type="fourier"/],
    [{ num_attention_heads: 8 }, /num_attention_heads/],
    [{ resnet_time_scale_shift: 'scale_shift' }, /resnet_time_scale_shift/],
    [{ mid_block_type: 'UNetMidBlock2DSimpleCrossAttn' }, /mid_block_type/],
    [{ down_block_types: ['SimpleCrossAttnDownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D'] }, /SimpleCrossAttnDownBlock2D/],
    [{ some_future_key: 1 }, /some_future_key \(unknown key\)/],
    [{ _class_name: 'UNet2DModel' }, /_class_name/],
  ] as const)('rejects %o with UnsupportedConfigError naming it', (extra, message) => {
    const run = () => resolveUNetConfig({ ...SD15, ...extra } as UNet2DConditionConfig, 'unet/config.json');
    expect(run).toThrow(UnsupportedConfigError);
    expect(run).toThrow(message);
    expect(run).toThrow(/unet\/config\.json/);
  });

  it('names every unsupported key at once', () => {
    expect(() => resolveUNetConfig({ class_embed_type: 'timestep', encoder_hid_dim: 768 })).toThrow(/class_embed_type.*encoder_hid_dim/);
  });

  it.each([
    [{ attention_head_dim: [8, 8] }, /attention_head_dim/],
    [{ up_block_types: ['UpBlock2D'] }, /up_block_types/],
    [{ norm_num_groups: 48 }, /norm_num_groups/],
    [{ transformer_layers_per_block: [[1, 1], [1, 1], [1, 1], [1, 1]] }, /reverse_transformer_layers_per_block/],
    [{ conv_in_kernel: 2 }, /conv_in_kernel/],
  ] as const)('rejects malformed %o with InvalidConfigError', (extra, message) => {
    const run = () => resolveUNetConfig({ ...SD15, ...extra } as UNet2DConditionConfig);
    expect(run).toThrow(InvalidConfigError);
    expect(run).toThrow(message);
  });
});
