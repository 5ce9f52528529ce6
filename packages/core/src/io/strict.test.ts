import { describe, expect, it } from 'vitest';
import { MissingWeightError, OptionError, ShapeMismatchError } from '../errors.js';
import { nearestKey, RenameCollisionError, renameKeys, selectPrefix, takeExpected, UnexpectedWeightsError } from './strict.js';
import type { RawTensor } from './types.js';

const t = (...shape: number[]): RawTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

describe('selectPrefix', () => {
  it('keeps only prefixed keys, with the prefix stripped', () => {
    const a = t(1);
    const m = selectPrefix(new Map([['vae.enc.w', a], ['unet.x', t(2)], ['vae.', t(3)], ['vaex.y', t(4)]]), 'vae.');
    expect([...m.keys()]).toEqual(['enc.w', '']);
    expect(m.get('enc.w')).toBe(a);
  });
});

describe('renameKeys', () => {
  const src = new Map([
    ['input_blocks.0.0.weight', t(1)],
    ['time_embed.0.bias', t(2)],
    ['time_embed.2.bias', t(3)],
    ['out.2.weight', t(4)],
  ]);

  it('applies the first matching rule (string with $n, or function of the match) and reports unmatched keys', () => {
    const { map, unmatched } = renameKeys(src, [
      [/^input_blocks\.0\.0\./, 'conv_in.'],
      [/^time_embed\.(\d)\./, (m) => `time_embedding.linear_${m[1] === '0' ? 1 : 2}.`],
      [/^time_embed\.0\.bias$/, 'never.used'],
      [/bias$/, 'b'],
    ]);
    expect([...map.keys()]).toEqual(['conv_in.weight', 'time_embedding.linear_1.bias', 'time_embedding.linear_2.bias', 'out.2.weight']);
    expect(map.get('time_embedding.linear_2.bias')).toBe(src.get('time_embed.2.bias'));
    expect(unmatched).toEqual(['out.2.weight']);
    expect(renameKeys(new Map([['ab', 1]]), [[/(a)(b)/, '$2$1']]).map.has('ba')).toBe(true);
  });

  it('drops unmatched keys on request', () => {
    const { map, unmatched } = renameKeys(src, [[/^out\./, 'conv_out.']], { dropUnmatched: true });
    expect([...map.keys()]).toEqual(['conv_out.2.weight']);
    expect(unmatched).toHaveLength(3);
  });

  it('throws a collision error naming both source keys', () => {
    const run = () => renameKeys(src, [[/^time_embed\.\d\./, 'te.']], { file: 'sd.ckpt' });
    expect(run).toThrow(RenameCollisionError);
    expect(run).toThrow('keys "time_embed.0.bias" and "time_embed.2.bias" in sd.ckpt are both renamed to "te.bias"');
    const withKept = () => renameKeys(new Map([['a', 1], ['b', 2]]), [[/^a$/, 'b']]);
    expect(withKept).toThrow(/"a" and "b"/);
  });

  it('rejects stateful regex flags', () => {
    expect(() => renameKeys(src, [[/x/g, 'y']])).toThrow(OptionError);
  });
});

describe('takeExpected', () => {
  const weights = new Map([
    ['conv_in.weight', t(32, 4, 3, 3)],
    ['conv_in.bias', t(32)],
    ['model_ema.decay', t()],
    ['betas', t(1000)],
  ]);
  const expected = { 'conv_in.weight': [32, 4, 3, 3], 'conv_in.bias': [32] };

  it('returns the expected tensors and the leftovers when allowed', () => {
    const { tensors, leftovers } = takeExpected(weights, expected, { allowLeftovers: true });
    expect([...tensors.keys()]).toEqual(['conv_in.weight', 'conv_in.bias']);
    expect(tensors.get('conv_in.bias')).toBe(weights.get('conv_in.bias'));
    expect(leftovers).toEqual(['model_ema.decay', 'betas']);
    expect(takeExpected(weights, expected, { allowLeftovers: [/^model_ema\./, /^betas$/g] }).leftovers).toHaveLength(2);
  });

  it('treats unexpected leftovers as an error by default or when no pattern accepts them', () => {
    expect(() => takeExpected(weights, expected, { file: 'sd.safetensors' })).toThrow(UnexpectedWeightsError);
    expect(() => takeExpected(weights, expected, { file: 'sd.safetensors', allowLeftovers: [/^model_ema\./] })).toThrow(
      '1 unexpected weight(s) in sd.safetensors: "betas"',
    );
  });

  it('names a missing key, the file, the nearest existing key and the other missing keys', () => {
    const m = new Map([['conv_in.weigth', t(32, 4, 3, 3)], ['conv_in.bias', t(32)]]);
    let err: unknown;
    try {
      takeExpected(m, { ...expected, 'conv_out.bias': [4] }, { file: 'unet.safetensors', allowLeftovers: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingWeightError);
    expect((err as Error).message).toBe(
      'missing weight "conv_in.weight" in unet.safetensors (did you mean "conv_in.weigth"?; 1 more missing: conv_out.bias)',
    );
  });

  it('checks shapes, with -1/null as wildcards', () => {
    expect(() => takeExpected(weights, { 'conv_in.weight': [32, 4, 3] }, { file: 'f', allowLeftovers: true })).toThrow(ShapeMismatchError);
    expect(() => takeExpected(weights, { 'conv_in.bias': [16] }, { allowLeftovers: true })).toThrow('"conv_in.bias" has shape [32], expected [16]');
    expect(takeExpected(weights, { 'conv_in.weight': [-1, 4, null, 3] }, { allowLeftovers: true }).tensors.size).toBe(1);
    expect(takeExpected(weights, { 'model_ema.decay': [] }, { allowLeftovers: true }).tensors.size).toBe(1);
  });

  it('works on lazy infos (any value with a shape)', () => {
    const infos = new Map([['w', { name: 'w', dtype: 'float16', shape: [2, 2] }]]);
    expect(takeExpected(infos, { w: [2, 2] }).tensors.get('w')!.dtype).toBe('float16');
  });
});

describe('nearestKey', () => {
  it('suggests only close keys', () => {
    expect(nearestKey('down_blocks.0.resnets.0.conv1.weight', ['down_blocks.0.resnets.0.conv2.weight', 'up.x'])).toBe(
      'down_blocks.0.resnets.0.conv2.weight',
    );
    expect(nearestKey('abc', ['xyz', 'completely.different'])).toBeUndefined();
  });
});
