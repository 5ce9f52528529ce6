import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { SemeditError } from '../errors.js';
import { convertWeight } from './weights.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('convertWeight', () => {
  it('refuses integer and boolean weights with a typed error naming the key, and widens float16', () => {
    for (const raw of [
      { dtype: 'int64' as const, shape: [2], data: new BigInt64Array([1n, 2n]) },
      { dtype: 'int32' as const, shape: [2, 2], data: new Int32Array(4) },
      { dtype: 'bool' as const, shape: [1], data: new Uint8Array(1) },
    ]) {
      const e = (() => { try { convertWeight('conv_in.bias', raw); } catch (x) { return x; } return undefined; })();
      expect(e).toBeInstanceOf(SemeditError);
      expect((e as SemeditError).code).toBe('E_DTYPE');
      expect((e as Error).message).toMatch(new RegExp(`"conv_in.bias" is stored as ${raw.dtype}`));
    }
    const t = convertWeight('norm.bias', { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) });
    expect([t.dtype, ...t.dataSync()]).toEqual(['float32', 1, -2]);
    t.dispose();
  });
});
