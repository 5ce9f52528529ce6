/**
 * Winograd convolutions: 3x3 stride-1 convolutions with at least 4096 output pixels run as oneDNN's Winograd
 * F(4x4, 3x3) kernel where it has one. Against the direct kernel (itself checked against tfjs-backend-cpu in
 * kernels.test.ts) the outputs differ by rounding only; smaller convolutions, other strides, half-width filters and
 * `setWinograd(false)` keep the direct kernel bit for bit; the kept layouts are given back on dispose and the work
 * buffers are counted apart and freed on request.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, describe, expect, it } from 'vitest';
import { seeded } from './testing/data.js';
import { nativeAvailability, registerNativeBackend, type NativeBackend } from './index.js';

const avail = nativeAvailability();
if (!avail.available) {
  if (process.env['SEMEDIT_REQUIRE_NATIVE']) throw new Error(`SEMEDIT_REQUIRE_NATIVE is set but the addon is unavailable: ${avail.reason}`);
  console.log(`winograd tests skipped: ${avail.reason}`);
}
const d = avail.available ? describe : describe.skip;
if (avail.available) registerNativeBackend();

const native = (): NativeBackend => tf.engine().findBackend('native') as NativeBackend;

/** A 3x3 conv over `[n, h, w, c]` with a `c -> c` filter, bias and relu, run with Winograd allowed or not. */
function conv(shape: [number, number, number, number], opts: { winograd: boolean; stride?: number; half?: boolean }): Float32Array {
  registerNativeBackend({ winograd: opts.winograd });
  const c = shape[3];
  return tf.tidy(() => {
    const x = tf.tensor4d(seeded(tf.util.sizeFromShape(shape), 1), shape);
    const w = tf.tensor4d(seeded(9 * c * c, 2).map((v) => v / Math.sqrt(9 * c)), [3, 3, c, c]);
    if (opts.half) native().storeHalf(w, 'fp16');
    const b = tf.tensor1d(seeded(c, 3));
    const y = tf.fused.conv2d({ x, filter: w, bias: b, strides: opts.stride ?? 1, pad: 'same', activation: 'relu' });
    return y.dataSync() as Float32Array;
  });
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

d('Winograd convolutions on native', () => {
  afterAll(() => registerNativeBackend({ winograd: true }));

  it('a 3x3 stride-1 conv with 4096 output pixels and 192 channels matches the direct kernel to rounding', async () => {
    await tf.setBackend('native');
    const shape: [number, number, number, number] = [1, 64, 64, 192];
    const direct = conv(shape, { winograd: false });
    const wino = conv(shape, { winograd: true });
    let worst = 0, differing = 0;
    for (let i = 0; i < direct.length; i++) {
      const e = Math.abs(direct[i]! - wino[i]!);
      worst = Math.max(worst, e);
      if (e > 0) differing++;
    }
    // Measured 4e-6 of the output's range on SD's shapes; Winograd ran (the results are not the direct kernel's).
    expect(worst / maxAbs(direct)).toBeLessThan(2e-5);
    expect(differing).toBeGreaterThan(direct.length / 10);
  });

  it('smaller outputs, stride 2 and half-width filters keep the direct kernel exactly', async () => {
    await tf.setBackend('native');
    const cases: { shape: [number, number, number, number]; stride?: number; half?: boolean }[] = [
      { shape: [1, 32, 32, 192] },
      { shape: [1, 128, 128, 192], stride: 2 },
      { shape: [1, 64, 64, 192], half: true },
    ];
    for (const c of cases) {
      const direct = conv(c.shape, { winograd: false, ...c });
      const wino = conv(c.shape, { winograd: true, ...c });
      expect(Array.from(wino), JSON.stringify(c)).toEqual(Array.from(direct));
    }
  });

  it('gives its kept filter layout back on dispose and counts its work buffers apart', async () => {
    await tf.setBackend('native');
    registerNativeBackend({ winograd: true });
    native().releaseWorkspace();
    const before = native().memory();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) conv([1, 64, 64, 192], { winograd: true });
    const after = native().memory();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(after.addonBytes).toBe(before.addonBytes);
    // The Winograd scratchpad and the blocked input and output: at least the two 64x64x192 float32 layouts.
    expect(after.workspaceBytes).toBeGreaterThanOrEqual(2 * 64 * 64 * 192 * 4);
    native().releaseWorkspace();
    expect(native().memory().workspaceBytes).toBe(0);
  });
});
