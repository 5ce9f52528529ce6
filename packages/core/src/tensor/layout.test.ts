import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { SemeditError, ShapeMismatchError } from '../errors.js';
import { convWeightToHwio, linearWeightToInOut, nchwToNhwcTensor, rawToTensor } from './layout.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('rawToTensor', () => {
  it('widens half and bfloat16 bits by their closed forms', () => {
    // float16: 0x3c00 = 1, 0xc000 = -2, 0x3555 = 0.333251953125; bf16: 0x3f80 = 1, 0xc040 = -3
    const h = rawToTensor({ dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3555]) });
    expect(Array.from(h.dataSync())).toEqual([1, -2, 0.333251953125]);
    const b = rawToTensor({ dtype: 'bfloat16', shape: [2], data: new Uint16Array([0x3f80, 0xc040]) });
    expect(Array.from(b.dataSync())).toEqual([1, -3]);
    tf.dispose([h, b]);
  });

  it('maps int64 into int32 and refuses values out of range, naming the tensor', () => {
    const t = rawToTensor({ dtype: 'int64', shape: [2], data: new BigInt64Array([-5n, 7n]) });
    expect(t.dtype).toBe('int32');
    expect(Array.from(t.dataSync())).toEqual([-5, 7]);
    t.dispose();
    const big = { dtype: 'int64' as const, shape: [1], data: new BigInt64Array([1n << 40n]) };
    expect(() => rawToTensor(big, 'position_ids')).toThrow(SemeditError);
    expect(() => rawToTensor(big, 'position_ids')).toThrow(/position_ids/);
  });
});

describe('layout conversions', () => {
  it('OIHW -> HWIO puts w[o][i][y][x] at [y][x][i][o]', () => {
    const [O, I, H, W] = [3, 2, 2, 2];
    const data = Float32Array.from({ length: O * I * H * W }, (_, k) => k);
    const w = convWeightToHwio({ dtype: 'float32', shape: [O, I, H, W], data });
    expect(w.shape).toEqual([H, W, I, O]);
    const buf = w.bufferSync();
    for (let o = 0; o < O; o++)
      for (let i = 0; i < I; i++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) expect(buf.get(y, x, i, o)).toBe(((o * I + i) * H + y) * W + x);
    w.dispose();
  });

  it('linear [out, in] -> [in, out] and NCHW -> NHWC', () => {
    const l = linearWeightToInOut({ dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    expect(l.arraySync()).toEqual([[1, 4], [2, 5], [3, 6]]);
    const a = nchwToNhwcTensor({ dtype: 'float32', shape: [1, 2, 1, 2], data: new Float32Array([1, 2, 3, 4]) });
    expect(a.arraySync()).toEqual([[[[1, 3], [2, 4]]]]);
    tf.dispose([l, a]);
  });

  it('rejects wrong ranks with a ShapeMismatchError and leaks nothing', () => {
    const before = tf.memory().numTensors;
    expect(() => convWeightToHwio({ dtype: 'float32', shape: [4], data: new Float32Array(4) }, 'conv_in.weight')).toThrow(
      ShapeMismatchError,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
