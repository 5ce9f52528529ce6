/**
 * The sinusoidal timestep embedding against get_timestep_embedding's formula evaluated in float64 (flip,
 * frequency shift, odd widths), and the timestep argument's broadcasting rules.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { ShapeMismatchError } from '../errors.js';
import { expectClose } from '../testing/index.js';
import { timestepProj, timestepsTensor } from './embeddings.js';

/** get_timestep_embedding in float64. */
function reference(t: number[], dim: number, flip: boolean, shift: number): number[] {
  const half = Math.floor(dim / 2);
  return t.flatMap((v) => {
    const args = Array.from({ length: half }, (_, i) => v * Math.exp((-Math.log(10000) * i) / (half - shift)));
    const [a, b] = flip ? [args.map(Math.cos), args.map(Math.sin)] : [args.map(Math.sin), args.map(Math.cos)];
    return [...a, ...b, ...(dim % 2 ? [0] : [])];
  });
}

describe('timestep embedding', () => {
  beforeAll(() => initBackend({ backend: 'cpu' }));

  it.each([
    [[0, 1, 17.25, 999], 8, true, 0],
    [[3, 500], 7, false, 1],
    [[250.5], 32, true, 0],
  ] as const)('timestepProj(%o, dim %i, flip %s, shift %i) follows the formula', (t, dim, flip, shift) => {
    const got = tf.tidy(() => timestepProj(tf.tensor1d([...t]), { dim, flipSinToCos: flip, freqShift: shift }));
    expect(got.shape).toEqual([t.length, dim]);
    // float32 arguments t·freq are off by up to |t|·2^-24 radians
    expectClose(got, reference([...t], dim, flip, shift), { atol: 1e-4, rtol: 0, name: 'timestep embedding' });
    got.dispose();
  });

  it('broadcasts one timestep to the batch and checks per-row counts', () => {
    const cases: [number | number[] | tf.Tensor, number[]][] = [[5, [5, 5, 5]], [[7], [7, 7, 7]], [tf.tensor1d([1, 2, 3], 'int32'), [1, 2, 3]], [tf.scalar(4), [4, 4, 4]]];
    for (const [input, want] of cases) {
      const t = tf.tidy(() => timestepsTensor(input, 3));
      expect([t.dtype, Array.from(t.dataSync())]).toEqual(['float32', want]);
      t.dispose();
      if (input instanceof tf.Tensor) input.dispose();
    }
    expect(() => timestepsTensor([1, 2], 3)).toThrow(ShapeMismatchError);
    expect(() => timestepsTensor(Number.NaN, 3)).toThrow(/finite/);
  });
});
