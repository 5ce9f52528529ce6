/**
 * Test data for the native package's tests: seeded inputs (a small LCG, so every backend sees identical values) and
 * an element-wise comparison.
 * @module
 */
import { expect } from 'vitest';

/**
 * Deterministic data in [-2, 2).
 *
 * @example
 * ```ts
 * tf.tensor(seeded(12, 1), [3, 4]);
 * ```
 */
export function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
}

/**
 * Expects equal lengths and |got - want| <= tol · max(1, |want|) at every element (NaN where, and only where, want
 * has NaN); the message names the first element that is off.
 *
 * @example
 * ```ts
 * expectCloseArrays(native, reference, 1e-5);
 * ```
 */
export function expectCloseArrays(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const a = want[i]!, b = got[i]!;
    if (Number.isNaN(a) || Number.isNaN(b)) {
      expect([i, Number.isNaN(b)]).toEqual([i, Number.isNaN(a)]);
      continue;
    }
    if (!(Math.abs(a - b) <= tol * Math.max(1, Math.abs(a)))) expect({ i, got: b }).toEqual({ i, got: a });
  }
}
