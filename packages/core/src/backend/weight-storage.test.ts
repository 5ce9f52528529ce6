/**
 * Weight storage: the option and `SEMEDIT_WEIGHTS` are validated; half-width storage is refused on a backend
 * without it; on native, storeWeights halves exactly the weight matrices and filters among its tensors (not vectors,
 * not variables, each tensor once) and the values read back are the rounded ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { OptionError } from '../errors.js';
import { canStoreHalf, getWeightStorage, initBackend, resolveBackendOptions, storeWeights } from './index.js';

const native = (await import('@semedit/native')).nativeAvailability();
const halfBytes = (): number => (tf.backend().memory() as { halfBytes?: number }).halfBytes ?? 0;

describe('weight storage', () => {
  afterAll(async () => {
    await initBackend({ backend: 'cpu', weightStorage: 'fp32' });
  });

  it('resolves the option, then SEMEDIT_WEIGHTS, then fp32; an unknown value is a typed error naming its source', () => {
    expect(resolveBackendOptions({}, {}).weightStorage).toBe('fp32');
    expect(resolveBackendOptions({}, { SEMEDIT_WEIGHTS: 'BF16' }).weightStorage).toBe('bf16');
    expect(resolveBackendOptions({ weightStorage: 'fp16' }, { SEMEDIT_WEIGHTS: 'bf16' }).weightStorage).toBe('fp16');
    expect(() => resolveBackendOptions({}, { SEMEDIT_WEIGHTS: 'int8' })).toThrow(/SEMEDIT_WEIGHTS.*int8/);
    expect(() => resolveBackendOptions({ weightStorage: 'f16' as never })).toThrow(OptionError);
  });

  it('refuses half-width storage on a backend without it, and leaves fp32 in place', async () => {
    await initBackend({ backend: 'cpu' });
    await expect(initBackend({ backend: 'cpu', weightStorage: 'fp16' })).rejects.toThrow(/fp16 weight storage needs the native backend; cpu/);
    expect(getWeightStorage()).toBe('fp32');
    expect(canStoreHalf(tf.backend())).toBe(false);
    expect(storeWeights([tf.zeros([2, 2])])).toBe(0); // fp32: nothing to do
  });

  it.skipIf(!native.available)('on native: halves matrices and filters only, once each, and reads back rounded values', async () => {
    const info = await initBackend({ backend: 'native', weightStorage: 'bf16' });
    expect(info.weightStorage).toBe('bf16');
    const m = tf.tensor2d([[1.00390625, -3], [0.1, 7]]); // 1 + 2^-8 rounds to 1 in bf16 (ties to even)
    const f = tf.ones([3, 3, 2, 4]);
    const v = tf.ones([4]);
    const trained = tf.variable(tf.ones([2, 2]));
    const ints = tf.ones([3, 3], 'int32');
    const before = halfBytes();
    const freed = storeWeights([m, f, v, m, trained, ints]); // m twice: stored once
    expect(freed).toBe((m.size + f.size) * 2);
    expect(halfBytes() - before).toBe((m.size + f.size) * 2);
    expect(storeWeights(m)).toBe(0);
    expect([...m.dataSync()]).toEqual([1, -3, 0.10009765625, 7]);
    expect([...trained.dataSync()]).toEqual([1, 1, 1, 1]);
    await tf.setBackend('cpu');
    expect(() => storeWeights([tf.ones([2, 2])])).toThrow(/bf16 weight storage needs the native backend; the active backend is cpu/);
    await tf.setBackend('native');
    tf.dispose([m, f, v, trained, ints]);
    expect(halfBytes()).toBe(before);
    await initBackend({ backend: 'native' });
    expect(getWeightStorage()).toBe('fp32');
  });
});
