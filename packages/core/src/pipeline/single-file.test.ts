/**
 * LDM component extraction errors: a component key no rename rule maps is reported with its full LDM name.
 */
import { describe, expect, it } from 'vitest';
import { UnexpectedWeightsError } from '../io/strict.js';
import type { RawTensor } from '../io/types.js';
import { resolveUNetConfig } from '../unet/config.js';
import { ldmComponentWeights } from './single-file.js';

const raw: RawTensor = { dtype: 'float32', shape: [1], data: new Float32Array(1) };
const cfg = resolveUNetConfig({ block_out_channels: [16, 32], down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'], layers_per_block: 1, norm_num_groups: 8 });

describe('ldmComponentWeights', () => {
  it('renames what the tables know and rejects the rest, naming the LDM key and the file', () => {
    const sd = new Map([
      ['model.diffusion_model.input_blocks.0.0.weight', raw],
      ['model.diffusion_model.input_blocks.1.1.proj_in.weight', raw],
      ['first_stage_model.encoder.conv_in.weight', raw],
      ['betas', raw],
    ]);
    expect([...ldmComponentWeights(sd, 'unet', cfg).keys()]).toEqual(['conv_in.weight', 'down_blocks.0.attentions.0.proj_in.weight']);
    sd.set('model.diffusion_model.input_blocks.9.0.in_layers.0.weight', raw); // a level this config does not have
    expect(() => ldmComponentWeights(sd, 'unet', cfg, 'model.ckpt')).toThrow(UnexpectedWeightsError);
    expect(() => ldmComponentWeights(sd, 'unet', cfg, 'model.ckpt')).toThrow(/in model\.ckpt: "model\.diffusion_model\.input_blocks\.9\.0\.in_layers\.0\.weight"/);
  });
});
