import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from './index.js';

describe('gradients', () => {
  it('initBackend makes tf.grad and chained ops work (d/dx sum(x^2) = 2x)', async () => {
    await initBackend({ backend: 'cpu' });
    const x = tf.tensor([1, -2, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(t)))(x);
    expect(Array.from(g.dataSync())).toEqual([2, -4, 6]);
    const s = x.sum();
    expect(s.dataSync()[0]).toBe(2);
    tf.dispose([x, g, s]);
  });
});
