/**
 * The failure the heap guard exists for, on the real 4 GiB wasm heap: with the limit at the heap maximum,
 * fill the heap until allocations are refused, then check that every tensor still holds its own values (stock
 * tfjs writes a refused tensor at address 0, over whatever lives there) and that the backend still computes.
 * Uses about 4.3 GB of memory for a few seconds, in its own process.
 */
import { afterAll, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_HEAP_LIMIT_BYTES, HeapLimitError, WASM_HEAP_MAX_BYTES, initBackend, setHeapLimit, wasmHeapStats } from './index.js';

const MiB = 1024 ** 2;

afterAll(() => setHeapLimit(DEFAULT_HEAP_LIMIT_BYTES));

it('fills the 4 GiB wasm heap without corrupting it and refuses the rest with HeapLimitError', async () => {
  await initBackend({ backend: 'wasm' });
  setHeapLimit(WASM_HEAP_MAX_BYTES);
  const held: tf.Tensor[] = [];
  const refusals: HeapLimitError[] = [];
  for (const chunkMiB of [512, 64, 8]) {
    for (;;) {
      try {
        held.push(tf.fill([(chunkMiB * MiB) / 4], held.length + 1));
      } catch (e) {
        expect(e).toBeInstanceOf(HeapLimitError);
        refusals.push(e as HeapLimitError);
        break;
      }
    }
  }
  const heldBytes = held.reduce((a, t) => a + t.size * 4, 0);
  expect(heldBytes).toBeGreaterThan(3.9 * 1024 * MiB);
  expect(refusals).toHaveLength(3);
  expect(wasmHeapStats()!.trackedBytes).toBeGreaterThanOrEqual(heldBytes);

  // Every tensor still holds its own fill value.
  for (const [i, t] of held.entries()) {
    const [lo, hi] = [tf.min(t), tf.max(t)];
    expect([(await lo.data())[0], (await hi.data())[0]]).toEqual([i + 1, i + 1]);
    tf.dispose([lo, hi]);
  }
  tf.dispose(held);
  const y = tf.tidy(() => tf.sum(tf.matMul(tf.ones([64, 32]), tf.ones([32, 16]))));
  expect((await y.data())[0]).toBe(64 * 16 * 32);
  y.dispose();
}, 120_000);
