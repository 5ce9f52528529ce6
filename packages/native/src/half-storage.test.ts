/**
 * Half-width weight storage (`NativeBackend.storeHalf`): the bits are the float32 values rounded to nearest (within
 * half an ulp of the format, exact where representable); every reader sees those rounded values (kernels that read
 * the bits, convolutions and matmuls, agree with tfjs-backend-cpu run on the widened values); the memory is halved,
 * counted and given back on dispose; and the error against float32 weights is measured and bounded.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { expectCloseArrays, seeded } from './testing/data.js';
import { NativeKernelError, nativeAvailability, registerNativeBackend, type HalfFormat, type NativeBackend } from './index.js';

await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');

const avail = nativeAvailability();
if (!avail.available) {
  if (process.env['SEMEDIT_REQUIRE_NATIVE']) throw new Error(`SEMEDIT_REQUIRE_NATIVE is set but the addon is unavailable: ${avail.reason}`);
  console.log(`half-width storage tests skipped: ${avail.reason}`);
}
const d = avail.available ? describe : describe.skip;

/** Significant bits after the leading one: the format's relative rounding bound is 2^-(bits+1). */
const MANTISSA: Record<HalfFormat, number> = { bf16: 7, fp16: 10 };

const native = (): NativeBackend => tf.engine().findBackend('native') as NativeBackend;

/** A model-like case: `weights` are stored half-width, `run` uses them with float32 activations. */
interface HalfCase {
  name: string;
  weights: number[][];
  inputs: number[][];
  run: (w: tf.Tensor[], x: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

const t4 = (t: tf.Tensor): tf.Tensor4D => t as tf.Tensor4D;
const cases: HalfCase[] = [
  { name: 'conv 3x3', weights: [[3, 3, 8, 6]], inputs: [[2, 7, 9, 8]], run: ([w], [x]) => tf.conv2d(t4(x!), t4(w!), 1, 'same') },
  { name: 'fused conv strided, bias, relu', weights: [[3, 3, 4, 5], [5]], inputs: [[1, 9, 8, 4]],
    run: ([w, b], [x]) => tf.fused.conv2d({ x: t4(x!), filter: t4(w!), strides: 2, pad: 'same', bias: b, activation: 'relu' }) },
  { name: 'depthwise conv', weights: [[3, 3, 6, 1]], inputs: [[1, 6, 5, 6]], run: ([w], [x]) => tf.depthwiseConv2d(t4(x!), t4(w!) as tf.Tensor4D, 1, 'valid') },
  { name: 'conv input gradient (backprop input reads the bits)', weights: [[3, 3, 4, 3]], inputs: [[1, 6, 6, 4]],
    run: ([w], [x]) => tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.conv2d(t4(a), t4(w!), 1, 'same'))))(x!) },
  { name: 'linear (matmul, 3-D input)', weights: [[24, 16]], inputs: [[2, 5, 24]], run: ([w], [x]) => tf.matMul(tf.reshape(x!, [10, 24]), w!) },
  { name: 'matmul transposeB with bias', weights: [[16, 24], [16]], inputs: [[7, 24]],
    run: ([w, b], [x]) => tf.fused.matMul({ a: x!, b: w!, transposeB: true, bias: b }) },
  { name: 'weight as the left operand', weights: [[6, 9]], inputs: [[9, 4]], run: ([w], [x]) => tf.matMul(w!, x!) },
  { name: 'JS kernels (gather, add) read widened values', weights: [[11, 8]], inputs: [[3, 8]],
    run: ([w], [x]) => tf.add(tf.gather(w!, tf.tensor1d([0, 10, 3], 'int32')), x!) },
];

function make(shapes: number[][], seed: number): tf.Tensor[] {
  return shapes.map((s, i) => tf.tensor(seeded(tf.util.sizeFromShape(s), seed + i), s));
}

d('half-width weight storage on native', () => {
  registerNativeBackend();

  for (const format of ['bf16', 'fp16'] as const) {
    describe(format, () => {
      it('rounds to nearest: within half an ulp, exact where representable, fp16 overflow to inf', async () => {
        await tf.setBackend('native');
        const values = seeded(4096, 7).map((v, i) => v * 2 ** ((i % 24) - 12));
        const exact = [0, 1, -2.5, 0.375, 1024, -0.0078125];
        const t = tf.tensor1d([...values, ...exact, 70000]);
        native().storeHalf(t, format);
        const got = t.dataSync();
        const ulp = 2 ** -(MANTISSA[format] + 1);
        for (let i = 0; i < values.length; i++) {
          const v = values[i]!;
          if (format === 'fp16' && Math.abs(v) < 2 ** -14) expect(Math.abs(got[i]! - v)).toBeLessThanOrEqual(2 ** -25);
          else expect(Math.abs(got[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * ulp);
        }
        expect([...got.slice(values.length, values.length + exact.length)]).toEqual(exact);
        expect(got[got.length - 1]).toBe(format === 'fp16' ? Infinity : 70144);
        t.dispose();
      });

      for (const c of cases) {
        it(`${c.name}: kernels see exactly the stored values`, async () => {
          await tf.setBackend('native');
          const got = tf.tidy(() => {
            const w = make(c.weights, 1);
            w.forEach((t) => native().storeHalf(t, format));
            const widened = w.map((t) => ({ shape: t.shape, values: t.dataSync().slice() }));
            const out = c.run(w, make(c.inputs, 11));
            return { widened, out: (Array.isArray(out) ? out : [out]).map((o) => o.dataSync().slice()) };
          });
          await tf.setBackend('cpu');
          const ref = tf.tidy(() => {
            const out = c.run(got.widened.map((w) => tf.tensor(w.values, w.shape)), make(c.inputs, 11));
            return (Array.isArray(out) ? out : [out]).map((o) => o.dataSync().slice());
          });
          await tf.setBackend('native');
          expect(got.out.length).toBe(ref.length);
          ref.forEach((r, k) => expectCloseArrays(got.out[k]!, r, 1e-5));
        });
      }

      it('error against float32 weights, measured (bound: 8 ulp of the format times the output scale)', async () => {
        await tf.setBackend('native');
        const c = cases[0]!;
        const run = (half: boolean): Float32Array => {
          const out = tf.tidy(() => {
            const w = make(c.weights, 1);
            if (half) w.forEach((t) => native().storeHalf(t, format));
            return c.run(w, make(c.inputs, 11)) as tf.Tensor;
          });
          const v = out.dataSync() as Float32Array;
          out.dispose();
          return v;
        };
        const full = run(false), half = run(true);
        let peak = 0, worst = 0;
        for (let i = 0; i < full.length; i++) peak = Math.max(peak, Math.abs(full[i]!));
        for (let i = 0; i < full.length; i++) worst = Math.max(worst, Math.abs(full[i]! - half[i]!) / peak);
        console.log(`${format} weight storage, conv 3x3: max error / max |output| = ${worst.toExponential(2)}`);
        expect(worst).toBeGreaterThan(0);
        expect(worst).toBeLessThan(8 * 2 ** -(MANTISSA[format] + 1));
      });
    });
  }

  it.each(['bf16', 'fp16'] as const)('%s halves the memory, counts it, drops a kept float32 layout, and gives everything back on dispose', async (format) => {
    await tf.setBackend('native');
    const b = native();
    const before = { tensors: tf.memory().numTensors, half: b.memory().halfBytes, addon: b.memory().addonBytes };
    const w = tf.tensor(seeded(3 * 3 * 16 * 16, 3), [3, 3, 16, 16]) as tf.Tensor4D;
    const x = tf.tensor(seeded(8 * 8 * 16, 4), [1, 8, 8, 16]) as tf.Tensor4D;
    tf.conv2d(x, w, 1, 'same').dispose(); // the filter's preferred layout is kept, in float32
    const kept = b.memory().addonBytes - before.addon;
    expect(b.storeHalf(w, format)).toBe(w.size * 2);
    expect(b.storeHalf(w, format)).toBe(0); // already half-width
    expect(b.memory().halfBytes - before.half).toBe(w.size * 2);
    expect(b.memory().addonBytes - before.addon).toBeLessThanOrEqual(Math.max(0, kept - w.size * 4));
    for (let i = 0; i < 3; i++) tf.conv2d(x, w, 1, 'same').dispose();
    expect(b.memory().addonBytes).toBe(before.addon); // nothing kept per call (fp16's widened copy is freed)
    const m = tf.tensor(seeded(16 * 16, 5), [16, 16]);
    b.storeHalf(m, format);
    tf.tidy(() => tf.matMul(tf.reshape(x, [64, 16]), m)).dispose();
    expect(b.memory().addonBytes).toBe(before.addon);
    m.dispose();
    tf.dispose([w, x]);
    expect(b.memory().halfBytes).toBe(before.half);
    expect(tf.memory().numTensors).toBe(before.tensors);
  });

  it('release frees a kernel output\'s float32 memory at once, and never touches data the caller gave', async () => {
    await tf.setBackend('native');
    const b = native();
    const raw = seeded(12, 9);
    const given = tf.tensor(raw, [3, 4]);
    const made = tf.transpose(given); // a native kernel's output
    const arrayOf = (t: tf.Tensor): Float32Array => (b as unknown as { data: { get(id: object): { values: Float32Array } } }).data.get(t.dataId).values;
    const madeArray = arrayOf(made);
    const want = made.dataSync().slice();
    b.storeHalf(made, 'fp16', { release: true });
    b.storeHalf(given, 'fp16', { release: true });
    expect(madeArray.length).toBe(0); // detached: freed now, not at the next garbage collection
    expect([...raw]).toEqual([...seeded(12, 9)]); // the caller's array is intact
    expectCloseArrays(made.dataSync(), want, 2 ** -11);
    tf.dispose([given, made]);
  });

  it('refuses a tensor that is not float32, with a typed error', async () => {
    await tf.setBackend('native');
    const i = tf.tensor1d([1, 2, 3], 'int32');
    expect(() => native().storeHalf(i, 'bf16')).toThrow(NativeKernelError);
    expect(() => native().storeHalf(tf.tensor1d([1]), 'fp8' as HalfFormat)).toThrow(/bf16' or 'fp16/);
    i.dispose();
  });
});
