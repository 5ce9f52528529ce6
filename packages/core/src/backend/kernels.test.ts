/**
 * The wasm kernels semedit adds, checked against tfjs's cpu kernels (the reference) on seeded random shapes,
 * and `tf.grad` through the ops that need them, wasm against cpu.
 *
 * The cpu backprop kernels of depthwiseConv2d ignore `dilations`, so dilated cases use an exact cpu reference
 * instead: a dilated filter equals the undilated filter with `d − 1` zeros between taps (same padding, same
 * output), so the input gradient is cpu's kernel with that zero-stuffed filter, and the filter gradient is cpu's
 * kernel for the stuffed shape read at every `d`-th tap.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node build registers no gradients; this is what @tensorflow/tfjs does.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { initBackend } from './index.js';
import { WASM_GRADIENT_KERNELS } from './kernels/index.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Arr {
  shape: number[];
  values: Float32Array | Int32Array;
  dtype?: 'float32' | 'int32';
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20240611);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
function randn(shape: number[]): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = rand() * 2 - 1;
  return { shape, values };
}

/** Runs one kernel on a backend and checks that it leaves no tensor and no backend data behind. */
async function runKernel(backend: 'cpu' | 'wasm', name: string, inputs: Record<string, Arr>, attrs: object): Promise<Arr> {
  await tf.setBackend(backend);
  const dataBefore = tf.backend().numDataIds();
  const tensorsBefore = tf.memory().numTensors;
  const ts = Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, tf.tensor(a.values, a.shape, a.dtype ?? 'float32')]));
  const out = tf.engine().runKernel(name, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result: Arr = { shape: out.shape, values: (await out.data()) as Float32Array };
  out.dispose();
  Object.values(ts).forEach((t) => t.dispose());
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  expect(tf.backend().numDataIds()).toBe(dataBefore);
  return result;
}

/** |a − b| ≤ 1e-4·(|b| + max|b|): about 1e-4 relative, scaled for outputs near zero. */
function expectClose(a: Arr, b: Arr, what: string): void {
  expect(a.shape, what).toEqual(b.shape);
  let scale = 0;
  for (const v of b.values) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < b.values.length; i++) {
    const err = Math.abs(a.values[i]! - b.values[i]!) / (Math.abs(b.values[i]!) + scale + 1e-30);
    if (err > worst) [worst, at] = [err, i];
  }
  expect(worst, `${what}: worst relative error at ${at}: wasm ${a.values[at]} vs cpu ${b.values[at]}`).toBeLessThan(1e-4);
}

const convInfo = (x: number[], f: number[], strides: number[], dil: number[], pad: Pad, depthwise: boolean, fmt: 'channelsLast' | 'channelsFirst' = 'channelsLast') =>
  tf.backend_util.computeConv2DInfo(x as [number, number, number, number], f as [number, number, number, number], strides as [number, number], dil as [number, number], pad, 'floor', depthwise, fmt);

/** Inserts `d − 1` zeros between the taps of a `[kh, kw, a, b]` filter. */
function stuff(f: Arr, dh: number, dw: number): Arr {
  const [kh, kw, a, b] = f.shape as [number, number, number, number];
  const eh = (kh - 1) * dh + 1;
  const ew = (kw - 1) * dw + 1;
  const values = new Float32Array(eh * ew * a * b);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      values.set(f.values.subarray((i * kw + j) * a * b, (i * kw + j + 1) * a * b), (i * dh * ew + j * dw) * a * b);
  return { shape: [eh, ew, a, b], values };
}
/** Reads every `d`-th tap of a stuffed `[eh, ew, a, b]` filter back into `[kh, kw, a, b]`. */
function unstuff(f: Arr, kh: number, kw: number, dh: number, dw: number): Arr {
  const [, ew, a, b] = f.shape as [number, number, number, number];
  const values = new Float32Array(kh * kw * a * b);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) values.set(f.values.subarray((i * dh * ew + j * dw) * a * b, (i * dh * ew + j * dw + 1) * a * b), (i * kw + j) * a * b);
  return { shape: [kh, kw, a, b], values };
}

interface ConvCase {
  x: number[];
  k: [number, number];
  cout: number;
  strides: [number, number];
  pad: Pad;
  dil?: [number, number];
  fmt?: 'NHWC' | 'NCHW';
}
const explicit = (t: number, b: number, l: number, r: number): Pad => [[0, 0], [t, b], [l, r], [0, 0]];
function randomPad(): Pad {
  return pick<() => Pad>([() => 'same', () => 'valid', () => explicit(int(0, 2), int(0, 2), int(0, 2), int(0, 2))])();
}
function randomConvCases(count: number, depthwise: boolean): ConvCase[] {
  const out: ConvCase[] = [];
  while (out.length < count) {
    const dilated = depthwise && rand() < 0.4;
    const s = dilated ? 1 : int(1, 3);
    const d = dilated ? int(2, 3) : 1;
    const c: ConvCase = { x: [int(1, 3), int(5, 12), int(5, 12), int(1, 5)], k: [int(1, 4), int(1, 4)], cout: depthwise ? int(1, 3) : int(1, 6), strides: [s, int(1, 2) === 1 ? s : 1], pad: randomPad(), dil: [d, d] };
    const info = convInfo(c.x, [c.k[0], c.k[1], c.x[3]!, c.cout], c.strides, c.dil!, c.pad, depthwise);
    if (info.outHeight > 0 && info.outWidth > 0) out.push(c); // skip shapes whose output is empty
  }
  return out;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('wasm gradient kernels are registered', () => {
  it.each(WASM_GRADIENT_KERNELS.map((k) => k.kernelName))('%s', (name) => {
    expect(tf.getKernel(name, 'wasm')).toBeDefined();
  });
});

describe('Conv2DBackpropFilter on wasm matches cpu', () => {
  const fixed: ConvCase[] = [
    { x: [2, 9, 9, 3], k: [3, 3], cout: 5, strides: [1, 1], pad: 'same' },
    { x: [1, 10, 8, 4], k: [3, 3], cout: 2, strides: [2, 2], pad: 'valid' },
    { x: [2, 11, 7, 2], k: [5, 3], cout: 3, strides: [2, 3], pad: 'same' },
    { x: [1, 6, 7, 3], k: [2, 2], cout: 4, strides: [1, 1], pad: explicit(1, 2, 0, 1) },
    { x: [3, 9, 9, 2], k: [3, 3], cout: 2, strides: [2, 2], pad: 1 },
    { x: [3, 5, 5, 6], k: [1, 1], cout: 7, strides: [1, 1], pad: 'valid' },
    { x: [2, 3, 8, 8], k: [3, 3], cout: 4, strides: [2, 2], pad: 'same', fmt: 'NCHW' },
  ];
  it.each([...fixed, ...randomConvCases(10, false)])('x $x k $k cout $cout strides $strides pad $pad $fmt', async (c) => {
    const fmt = c.fmt ?? 'NHWC';
    const cin = fmt === 'NHWC' ? c.x[3]! : c.x[1]!;
    const filterShape = [c.k[0], c.k[1], cin, c.cout];
    const info = convInfo(c.x, filterShape, c.strides, [1, 1], c.pad, false, fmt === 'NHWC' ? 'channelsLast' : 'channelsFirst');
    const inputs = { x: randn(c.x), dy: randn(info.outShape) };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: fmt, dimRoundingMode: 'floor', filterShape };
    expectClose(await runKernel('wasm', 'Conv2DBackpropFilter', inputs, attrs), await runKernel('cpu', 'Conv2DBackpropFilter', inputs, attrs), 'dW');
  });
});

describe('DepthwiseConv2dNative backprop on wasm matches cpu', () => {
  const fixed: ConvCase[] = [
    { x: [2, 8, 8, 3], k: [3, 3], cout: 1, strides: [1, 1], pad: 'same' },
    { x: [1, 9, 7, 2], k: [3, 3], cout: 3, strides: [2, 2], pad: 'same' },
    { x: [2, 10, 10, 4], k: [4, 4], cout: 2, strides: [2, 1], pad: 'valid' },
    { x: [1, 7, 6, 3], k: [2, 3], cout: 2, strides: [1, 1], pad: explicit(2, 1, 0, 2) },
    { x: [2, 9, 9, 2], k: [3, 3], cout: 2, strides: [1, 1], pad: 'same', dil: [2, 2] },
    { x: [1, 12, 11, 3], k: [3, 2], cout: 1, strides: [1, 1], pad: 'valid', dil: [3, 2] },
    { x: [1, 10, 10, 2], k: [3, 3], cout: 2, strides: [2, 2], pad: explicit(1, 1, 1, 1), dil: [2, 2] },
  ];
  it.each([...fixed, ...randomConvCases(10, true)])('x $x k $k multiplier $cout strides $strides pad $pad dilation $dil', async (c) => {
    const [dh, dw] = c.dil ?? [1, 1];
    const filter = randn([c.k[0], c.k[1], c.x[3]!, c.cout]);
    const info = convInfo(c.x, filter.shape, c.strides, [dh, dw], c.pad, true);
    const x = randn(c.x);
    const dy = randn(info.outShape);
    const attrs = { strides: c.strides, dilations: [dh, dw], pad: c.pad, dimRoundingMode: 'floor' };
    // cpu reference with the zero-stuffed filter and dilation 1 (exact for any dilation).
    const big = stuff(filter, dh, dw);
    const refAttrs = { ...attrs, dilations: [1, 1] };

    const dx = await runKernel('wasm', 'DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...attrs, inputShape: c.x });
    const dxRef = await runKernel('cpu', 'DepthwiseConv2dNativeBackpropInput', { dy, filter: big }, { ...refAttrs, inputShape: c.x });
    expectClose(dx, dxRef, 'dx');

    const df = await runKernel('wasm', 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: filter.shape });
    const dfBig = await runKernel('cpu', 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...refAttrs, filterShape: big.shape });
    expectClose(df, unstuff(dfBig, c.k[0], c.k[1], dh, dw), 'dW');
  });
});

describe('UnsortedSegmentSum on wasm matches cpu', () => {
  const ids = (n: number, lo: number, hi: number): Arr => ({ shape: [n], values: Int32Array.from({ length: n }, () => int(lo, hi)), dtype: 'int32' });
  const cases: [string, Record<string, Arr>, number][] = [
    ['rank-2 x, repeated ids', { x: randn([40, 7]), segmentIds: ids(40, 0, 5) }, 6],
    ['rank-3 x, ids out of range dropped', { x: randn([25, 3, 4]), segmentIds: ids(25, -2, 9) }, 7],
    ['rank-1 x', { x: randn([30]), segmentIds: ids(30, 0, 3) }, 4],
    ['int32 x', { x: { shape: [12, 2], values: Int32Array.from({ length: 24 }, () => int(-9, 9)), dtype: 'int32' }, segmentIds: ids(12, 0, 2) }, 3],
    ['all ids out of range', { x: randn([5, 2]), segmentIds: ids(5, 10, 12) }, 3],
  ];
  it.each(cases)('%s', async (_name, inputs, numSegments) => {
    const wasm = await runKernel('wasm', 'UnsortedSegmentSum', inputs, { numSegments });
    const cpu = await runKernel('cpu', 'UnsortedSegmentSum', inputs, { numSegments });
    expectClose(wasm, cpu, 'sum');
  });

  it('rank-2 ids over rank-3 x equal rank-1 ids over the flattened rows', async () => {
    // cpu's kernel only handles rank-1 ids; summing by [4, 5] ids is summing the 20 rows by the flattened ids.
    const x = randn([4, 5, 3]);
    const flatIds = ids(20, 0, 6);
    const wasm = await runKernel('wasm', 'UnsortedSegmentSum', { x, segmentIds: { ...flatIds, shape: [4, 5] } }, { numSegments: 7 });
    const cpu = await runKernel('cpu', 'UnsortedSegmentSum', { x: { ...x, shape: [20, 3] }, segmentIds: flatIds }, { numSegments: 7 });
    expectClose(wasm, cpu, 'sum');
  });
});

describe('tf.grad on wasm matches cpu', () => {
  const cases: [string, number[][], (xs: tf.Tensor[]) => tf.Tensor][] = [
    ['conv2d stride 2 same', [[2, 9, 9, 3], [3, 3, 3, 4]], ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same')],
    ['conv2d valid', [[1, 8, 7, 2], [2, 3, 2, 5]], ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid')],
    ['depthwiseConv2d multiplier 2 stride 2', [[2, 8, 8, 3], [3, 3, 3, 2]], ([x, f]) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same')],
    ['conv2dTranspose', [[1, 5, 5, 4], [3, 3, 2, 4]], ([x, f]) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, [1, 10, 10, 2], 2, 'same')],
    ['separableConv2d', [[1, 7, 7, 2], [3, 3, 2, 2], [1, 1, 4, 3]], ([x, d, p]) => tf.separableConv2d(x as tf.Tensor4D, d as tf.Tensor4D, p as tf.Tensor4D, 1, 'same')],
    ['gather (embedding)', [[10, 6]], ([table]) => tf.gather(table!, tf.tensor1d([3, 1, 3, 9, 0, 3], 'int32'))],
  ];
  it.each(cases)('%s', async (_name, shapes, op) => {
    const args = shapes.map((s) => randn(s));
    const outShape = tf.tidy(() => {
      const probe = args.map((a) => tf.tensor(a.values, a.shape));
      return op(probe).shape;
    });
    const w = randn(outShape);
    const run = async (backend: 'cpu' | 'wasm'): Promise<Arr[]> => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const grads = tf.tidy(() => {
        const xs = args.map((a) => tf.tensor(a.values, a.shape));
        const f = (...ins: tf.Tensor[]) => tf.sum(tf.mul(op(ins), tf.tensor(w.values, w.shape)));
        return tf.grads(f)(xs);
      });
      const out = await Promise.all(grads.map(async (g) => ({ shape: g.shape, values: (await g.data()) as Float32Array })));
      tf.dispose(grads);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const [onWasm, onCpu] = [await run('wasm'), await run('cpu')];
    expect(onWasm.length).toBe(shapes.length);
    onWasm.forEach((g, i) => expectClose(g, onCpu[i]!, `gradient ${i}`));
  });
});
