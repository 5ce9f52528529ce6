/**
 * Every native kernel against tfjs-backend-cpu's on random inputs, edge shapes included (size-1 and odd dims,
 * strides, dilations, padding modes, broadcasting, empty tensors, inputs made non-contiguous by a transpose or a
 * slice). Each case builds its inputs from seeded data, runs the same function on `cpu` and on `native`, and
 * compares every output element.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { nativeAvailability, registerNativeBackend } from './index.js';
import { seeded as data } from './testing/data.js';

const avail = nativeAvailability();
if (!avail.available) {
  if (process.env['SEMEDIT_REQUIRE_NATIVE']) throw new Error(`SEMEDIT_REQUIRE_NATIVE is set but the addon is unavailable: ${avail.reason}`);
  console.log(`native kernel tests skipped: ${avail.reason}`);
}
const d = avail.available ? describe : describe.skip;


type Case = { name: string; shapes: number[][]; fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]; tol?: number; positive?: boolean };

async function runOn(backend: string, c: Case): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = c.shapes.map((s, i) => {
      const v = data(tf.util.sizeFromShape(s), i + 1);
      return tf.tensor(c.positive ? v.map((x) => Math.abs(x) + 0.1) : v, s);
    });
    const out = c.fn(...xs);
    return (Array.isArray(out) ? out : [out]).map((t) => ({ shape: t.shape, values: t.dataSync() as Float32Array }));
  });
}

async function check(c: Case): Promise<void> {
  const ref = await runOn('cpu', c);
  const got = await runOn('native', c);
  expect(got.length).toBe(ref.length);
  const tol = c.tol ?? 1e-5;
  for (let k = 0; k < ref.length; k++) {
    expect(got[k]!.shape).toEqual(ref[k]!.shape);
    const r = ref[k]!.values, g = got[k]!.values;
    expect(g.length).toBe(r.length);
    let worst = 0;
    for (let i = 0; i < r.length; i++) {
      const a = r[i]!, b = g[i]!;
      if (Number.isNaN(a) || Number.isNaN(b)) {
        expect([i, Number.isNaN(b)]).toEqual([i, Number.isNaN(a)]);
        continue;
      }
      if (!Number.isFinite(a)) {
        expect(b).toBe(a);
        continue;
      }
      worst = Math.max(worst, Math.abs(a - b) / (1 + Math.abs(a)));
    }
    expect(worst, `${c.name} output ${k}`).toBeLessThanOrEqual(tol);
  }
}

const t4 = (t: tf.Tensor): tf.Tensor4D => t as tf.Tensor4D;
const convCases: Case[] = [
  { name: '3x3 same', shapes: [[2, 7, 5, 3], [3, 3, 3, 4]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), 1, 'same') },
  { name: '3x3 valid stride 2', shapes: [[1, 9, 8, 5], [3, 3, 5, 6]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), 2, 'valid') },
  { name: '5x3 same stride [2,1]', shapes: [[1, 8, 7, 2], [5, 3, 2, 3]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), [2, 1], 'same') },
  { name: 'dilation 2', shapes: [[1, 9, 9, 3], [3, 3, 3, 2]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), 1, 'same', 'NHWC', 2) },
  { name: 'explicit pads', shapes: [[1, 6, 5, 2], [3, 2, 2, 3]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), 1, [[0, 0], [2, 1], [0, 3], [0, 0]]) },
  { name: '1x1 on size-1 dims', shapes: [[1, 1, 1, 7], [1, 1, 7, 1]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), 1, 'valid') },
  { name: 'input after transpose', shapes: [[2, 3, 6, 5], [3, 3, 3, 4]], fn: (x, w) => tf.conv2d(t4(tf.transpose(x!, [0, 2, 3, 1])), t4(w!), 1, 'same') },
  { name: 'empty batch', shapes: [[0, 4, 4, 2], [3, 3, 2, 2]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), 1, 'same') },
  ...(['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid'] as const).map((activation): Case => ({
    name: `fused bias + ${activation}`,
    shapes: [[2, 5, 6, 3], [3, 3, 3, 4], [4]],
    fn: (x, w, b) => tf.fused.conv2d({ x: t4(x!), filter: t4(w!), strides: 1, pad: 'same', bias: b, activation, leakyreluAlpha: 0.1 }),
  })),
  { name: 'fused scalar bias (cpu path)', shapes: [[1, 4, 4, 2], [3, 3, 2, 3], []], fn: (x, w, b) => tf.fused.conv2d({ x: t4(x!), filter: t4(w!), strides: 1, pad: 'same', bias: b }) },
  { name: 'depthwise x2', shapes: [[2, 7, 6, 3], [3, 3, 3, 2]], fn: (x, w) => tf.depthwiseConv2d(t4(x!), t4(w!), 1, 'same') },
  { name: 'depthwise stride 2 dilation', shapes: [[1, 9, 9, 4], [3, 3, 4, 1]], fn: (x, w) => tf.depthwiseConv2d(t4(x!), t4(w!), 1, 'valid', 'NHWC', 2) },
  { name: 'conv grads', shapes: [[2, 6, 5, 3], [3, 3, 3, 4]], fn: (x, w) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(t4(a), t4(b), 2, 'same'))))([x!, w!]) },
  { name: 'conv grads valid strided', shapes: [[1, 9, 8, 2], [3, 2, 2, 3]], fn: (x, w) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.sin(tf.conv2d(t4(a), t4(b), [1, 2], 'valid'))))([x!, w!]) },
  { name: 'conv2dTranspose', shapes: [[1, 4, 5, 6], [3, 3, 2, 6]], fn: (x, w) => tf.conv2dTranspose(t4(x!), t4(w!), [1, 8, 10, 2], 2, 'same') },
  { name: 'depthwise grads', shapes: [[1, 6, 6, 3], [3, 3, 3, 2]], fn: (x, w) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(t4(a), t4(b), 2, 'same'))))([x!, w!]) },
];

const matmulCases: Case[] = [
  { name: 'rank 2', shapes: [[3, 5], [5, 4]], fn: (a, b) => tf.matMul(a!, b!) },
  ...[[false, true], [true, false], [true, true]].map(([ta, tb]): Case => ({
    name: `transposes ${ta} ${tb}`,
    shapes: [ta ? [5, 3] : [3, 5], tb ? [4, 5] : [5, 4]],
    fn: (a, b) => tf.matMul(a!, b!, ta, tb),
  })),
  { name: 'batched', shapes: [[2, 3, 4], [2, 4, 5]], fn: (a, b) => tf.matMul(a!, b!) },
  { name: 'broadcast batch', shapes: [[1, 3, 4], [3, 4, 5]], fn: (a, b) => tf.matMul(a!, b!, false, false) },
  { name: 'rank 4 transposeB', shapes: [[2, 2, 3, 4], [2, 2, 5, 4]], fn: (a, b) => tf.matMul(a!, b!, false, true) },
  { name: 'multi-dim broadcast (cpu path)', shapes: [[2, 1, 3, 4], [1, 3, 4, 2]], fn: (a, b) => tf.matMul(a!, b!) },
  { name: 'size-1 dims', shapes: [[1, 1], [1, 7]], fn: (a, b) => tf.matMul(a!, b!) },
  { name: 'empty K', shapes: [[3, 0], [0, 2]], fn: (a, b) => tf.matMul(a!, b!) },
  { name: 'empty M', shapes: [[0, 4], [4, 2]], fn: (a, b) => tf.matMul(a!, b!) },
  { name: 'after slice', shapes: [[6, 5], [5, 4]], fn: (a, b) => tf.matMul(tf.slice(a!, [1, 0], [3, 5]), b!) },
  { name: 'fused bias [N] relu', shapes: [[3, 5], [5, 4], [4]], fn: (a, b, c) => tf.fused.matMul({ a: a!, b: b!, bias: c, activation: 'relu' }) },
  { name: 'fused bias [M,N] sigmoid transposeB', shapes: [[2, 3, 5], [2, 4, 5], [3, 4]], fn: (a, b, c) => tf.fused.matMul({ a: a!, b: b!, bias: c, transposeB: true, activation: 'sigmoid' }) },
  { name: 'matmul grads', shapes: [[2, 3, 5], [2, 5, 4]], fn: (a, b) => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y))))([a!, b!]) },
];

const binaryOps: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
  ['add', tf.add], ['sub', tf.sub], ['mul', tf.mul], ['div', tf.div], ['maximum', tf.maximum], ['minimum', tf.minimum],
  ['squaredDifference', tf.squaredDifference], ['pow', (a, b) => tf.pow(tf.abs(a), b)],
];
const broadcastShapes: number[][][] = [[[2, 3, 4], [2, 3, 4]], [[2, 3, 4], [4]], [[2, 1, 4], [3, 1]], [[5], []], [[], []], [[1, 3, 1, 2], [4, 1, 5, 1]], [[0, 3], [3]], [[4, 3], [4, 1]]];
const binaryCases: Case[] = binaryOps.flatMap(([name, f]) => broadcastShapes.map((shapes): Case => ({ name: `${name} ${JSON.stringify(shapes)}`, shapes, fn: (a, b) => f(a!, b!) })));
binaryCases.push({ name: 'add after transpose', shapes: [[3, 4], [4, 3]], fn: (a, b) => tf.add(tf.transpose(a!), b!) });
for (const [name, f] of [['greater', tf.greater], ['greaterEqual', tf.greaterEqual], ['less', tf.less], ['lessEqual', tf.lessEqual], ['equal', tf.equal], ['notEqual', tf.notEqual]] as const) {
  binaryCases.push({ name: `${name} with broadcasting, ties and NaN`, shapes: [[3, 4, 5], [4, 1]], fn: (a, b) => f(tf.round(tf.concat([a!, tf.div(a!, 0)], 2)), tf.round(b!)) });
}
binaryCases.push({ name: 'logicalAnd / logicalOr of bools, broadcast', shapes: [[2, 3, 4], [3, 1]], fn: (a, b) => [tf.logicalAnd(tf.greater(a!, 0), tf.less(b!, 0.5)), tf.logicalOr(tf.greater(a!, 0), tf.less(b!, 0.5))] });
binaryCases.push({ name: 'select (where), broadcast by the op', shapes: [[4, 5], [4, 5], [5]], fn: (t, e, c) => [tf.where(tf.greater(t!, e!), t!, e!), tf.where(tf.greater(c!, 0), t!, e!)] });
binaryCases.push({ name: 'relu / leakyRelu / clip gradients (comparisons and select)', shapes: [[3, 7]], fn: (x) => [
  tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), a)))(x!), tf.grad((a: tf.Tensor) => tf.sum(tf.leakyRelu(a, 0.2)))(x!),
  tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.clipByValue(a, -1, 0.5))))(x!)] });
binaryCases.push({ name: 'per-channel scale over short rows (odometer across axes)', shapes: [[2, 3, 700, 8], [1, 3, 1, 8]], fn: (a, b) => tf.mul(a!, b!) });
binaryCases.push({ name: 'noise over channels', shapes: [[1, 90, 80, 4], [1, 90, 80, 1]], fn: (a, b) => tf.add(a!, b!) });

const unaryOps: [string, (x: tf.Tensor) => tf.Tensor, boolean?][] = [
  ['relu', tf.relu], ['leakyRelu', (x) => tf.leakyRelu(x, 0.3)], ['relu6', (x) => tf.relu6(tf.mul(x, 4))], ['elu', tf.elu], ['tanh', tf.tanh], ['sigmoid', tf.sigmoid],
  ['exp', tf.exp], ['log', tf.log, true], ['log of negatives', tf.log], ['sqrt', tf.sqrt, true], ['sqrt of negatives', tf.sqrt], ['rsqrt', tf.rsqrt, true],
  ['reciprocal', tf.reciprocal, true], ['square', tf.square], ['abs', tf.abs], ['neg', tf.neg], ['softplus', tf.softplus],
  ['clipByValue', (x) => tf.clipByValue(x, -0.5, 1.25)], ['erf', tf.erf],
];
const unaryCases: Case[] = unaryOps.flatMap(([name, f, positive]) => [
  // oneDNN's vectorized exp/log/tanh/erf are within a few ulp of Math's: 1e-5 relative.
  { name, shapes: [[3, 17, 5]], fn: (x) => f(x!), positive, tol: 1e-5 },
  { name: `${name} empty`, shapes: [[0, 2]], fn: (x) => f(x!), positive },
]);

const otherCases: Case[] = [
  { name: 'softmax rows', shapes: [[4, 7]], fn: (x) => tf.softmax(x!) },
  { name: 'softmax rank 3 large logits', shapes: [[2, 3, 9]], fn: (x) => tf.softmax(tf.mul(x!, 40)) },
  { name: 'softmax single', shapes: [[1]], fn: (x) => tf.softmax(x!) },
  { name: 'softmax grad', shapes: [[3, 5]], fn: (x) => tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.softmax(a))))(x!) },
  ...[[1, 0], [0, 2, 1], [2, 0, 1], [3, 1, 0, 2], [4, 2, 0, 3, 1]].map((perm): Case => ({
    name: `transpose ${perm}`,
    shapes: [[3, 1, 4, 2, 5].slice(0, perm.length)],
    fn: (x) => tf.transpose(x!, perm),
  })),
  { name: 'transpose empty', shapes: [[0, 3]], fn: (x) => tf.transpose(x!) },
  { name: 'concat last axis (NHWC skip)', shapes: [[2, 3, 4, 5], [2, 3, 4, 3]], fn: (a, b) => tf.concat([a!, b!], -1) },
  { name: 'concat axis 0', shapes: [[2, 3], [1, 3], [4, 3]], fn: (a, b, c) => tf.concat([a!, b!, c!], 0) },
  { name: 'concat middle axis', shapes: [[2, 1, 3], [2, 4, 3]], fn: (a, b) => tf.concat([a!, b!], 1) },
  { name: 'concat with an empty part', shapes: [[3, 0], [3, 2]], fn: (a, b) => tf.concat([a!, b!], 1) },
  { name: 'stack axis 0 (P2P probabilities)', shapes: [[4, 5], [4, 5], [4, 5]], fn: (a, b, c) => tf.stack([a!, b!, c!], 0) },
  { name: 'stack middle axis, after a transpose', shapes: [[3, 2, 4], [3, 4, 2]], fn: (a, b) => tf.stack([a!, tf.transpose(b!, [0, 2, 1])], 1) },
  { name: 'stack last axis (negative)', shapes: [[2, 3], [2, 3]], fn: (a, b) => tf.stack([a!, b!], -1) },
  { name: 'stack of empty tensors', shapes: [[0, 3], [0, 3]], fn: (a, b) => tf.stack([a!, b!], 1) },
  { name: 'concat after transpose', shapes: [[3, 4], [4, 2]], fn: (a, b) => tf.concat([tf.transpose(a!), b!], 1) },
  { name: 'concat of 20 parts', shapes: Array.from({ length: 20 }, (_, i) => [2, 1 + (i % 3)]), fn: (...xs) => tf.concat(xs, 1) },
  ...[[false, false], [true, false], [false, true]].flatMap(([align, half]) => [[8, 10], [3, 5], [1, 1], [7, 2]].map((size): Case => ({
    name: `resize nearest to ${size} alignCorners ${align} halfPixelCenters ${half}`,
    shapes: [[2, 4, 5, 3]],
    fn: (x) => tf.image.resizeNearestNeighbor(x! as tf.Tensor4D, size as [number, number], align, half),
  }))),
  { name: 'resize nearest grad', shapes: [[1, 3, 4, 2]], fn: (x) => tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [6, 8]))))(x!) },
  { name: 'pad NHWC spatial (StyleGAN2 upfirdn)', shapes: [[1, 5, 6, 3]], fn: (x) => tf.pad(x!, [[0, 0], [2, 1], [1, 2], [0, 0]]) },
  { name: 'pad every axis with a value', shapes: [[2, 3, 4]], fn: (x) => tf.pad(x!, [[1, 0], [0, 2], [3, 1]], -1.5) },
  { name: 'pad rank 1 and empty input', shapes: [[5], [0, 2]], fn: (a, e) => [tf.pad(a!, [[2, 3]]), tf.pad(e!, [[1, 1], [0, 1]], 2)] },
  { name: 'pad grad (a slice)', shapes: [[2, 3, 3, 2]], fn: (x) => tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.pad(a, [[0, 0], [1, 1], [2, 0], [0, 0]]))))(x!) },
  { name: 'slice inner box', shapes: [[3, 5, 6, 2]], fn: (x) => tf.slice(x!, [1, 1, 2, 0], [2, 3, -1, 1]) },
  { name: 'slice contiguous rows', shapes: [[6, 4]], fn: (x) => tf.slice(x!, [2, 0], [3, 4]) },
  { name: 'slice empty and rank 1', shapes: [[7]], fn: (x) => [tf.slice(x!, [3], [0]), tf.slice(x!, [2], [4])] },
  { name: 'split (slices) after transpose', shapes: [[4, 6]], fn: (x) => tf.split(tf.transpose(x!), [2, 4], 0) },
  { name: 'concat grad', shapes: [[2, 3], [2, 2]], fn: (a, b) => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.concat([x, y], 1))))([a!, b!]) },
  { name: 'split NHWC channels in three (UNet skip concat grad)', shapes: [[2, 3, 4, 9]], fn: (x) => tf.split(x!, [4, 2, 3], 3) },
  { name: 'split by count on a middle axis, with an empty part', shapes: [[3, 6, 2], [2, 4]], fn: (x, y) => [...tf.split(x!, 3, 1), ...tf.split(y!, [0, 4], 1)] },
  {
    name: 'embedding lookup grad (UnsortedSegmentSum), repeated ids',
    shapes: [[7, 5]],
    fn: (table) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d([3, 0, 3, 6, 3, 1], 'int32')), tf.reshape(tf.range(0, 30), [6, 5]))))(table!),
  },
  { name: 'unsorted segment sum of rank-3 rows', shapes: [[5, 2, 3]], fn: (x) => tf.unsortedSegmentSum(x!, tf.tensor1d([2, 0, 2, 1, 0], 'int32'), 4) },
];

const reduceOps: [string, (x: tf.Tensor, axis?: number | number[], keep?: boolean) => tf.Tensor][] = [
  ['sum', tf.sum], ['mean', tf.mean], ['max', tf.max], ['min', tf.min], ['prod', (x, a, k) => tf.prod(tf.add(tf.mul(x, 0.5), 1), a, k)],
];
const reduceAxes: [number[], number | number[] | undefined, boolean][] = [
  [[4, 6, 5], undefined, false], [[4, 6, 5], -1, false], [[4, 6, 5], 1, true], [[4, 6, 5], 0, false], [[4, 6, 5], [0, 2], false],
  [[2, 3, 4, 5], [1, 2], true], [[2, 3, 4, 5], [0, 3], false], [[3, 1, 5], [0, 1], false], [[7], 0, true], [[2, 1], 1, false],
];
const reduceCases: Case[] = reduceOps.flatMap(([name, f]) =>
  reduceAxes.map(([shape, axis, keep]): Case => ({ name: `${name} ${JSON.stringify(shape)} axis ${JSON.stringify(axis)} keep ${keep}`, shapes: [shape], fn: (x) => f(x!, axis, keep), tol: 1e-5 })),
);
reduceCases.push({ name: 'max with NaN', shapes: [[3, 4]], fn: (x) => tf.max(tf.div(x!, tf.sub(x!, tf.slice(x!, [0, 0], [1, 1]))), 1) });
reduceCases.push({ name: 'sum empty', shapes: [[0, 3]], fn: (x) => tf.sum(x!, 0) });

// tfjs-core's Node entry registers no gradients (semedit's initBackend does; this package does not depend on it).
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');

/**
 * bf16 compute (opt-in): convolutions and matmuls with bf16 inputs and weights, fp32 accumulation and outputs.
 * Tolerance, measured: the largest error relative to the output's largest magnitude stays below 1e-2 (bf16 keeps
 * 8 significant bits; typical figures here are 2e-3 to 5e-3).
 */
const bf16Cases: Case[] = [
  { name: 'conv 3x3 bf16', shapes: [[2, 9, 7, 32], [3, 3, 32, 24]], fn: (x, w) => tf.conv2d(t4(x!), t4(w!), 1, 'same') },
  { name: 'fused conv bias relu bf16', shapes: [[1, 8, 8, 16], [3, 3, 16, 8], [8]], fn: (x, w, b) => tf.fused.conv2d({ x: t4(x!), filter: t4(w!), strides: 1, pad: 'same', bias: b, activation: 'relu' }) },
  { name: 'matmul bf16', shapes: [[64, 96], [96, 48]], fn: (a, b) => tf.matMul(a!, b!) },
  { name: 'batched matmul transposeB bf16', shapes: [[2, 33, 40], [2, 17, 40]], fn: (a, b) => tf.matMul(a!, b!, false, true) },
];

async function checkBf16(c: Case): Promise<number> {
  const ref = await runOn('cpu', c);
  const got = await runOn('native', c);
  const r = ref[0]!.values, g = got[0]!.values;
  let peak = 0, worst = 0;
  for (let i = 0; i < r.length; i++) peak = Math.max(peak, Math.abs(r[i]!));
  for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(r[i]! - g[i]!) / peak);
  return worst;
}

d('native kernels match tfjs-backend-cpu', () => {
  registerNativeBackend();
  for (const [group, cases] of [['conv', convCases], ['matmul', matmulCases], ['binary', binaryCases], ['unary', unaryCases], ['softmax/transpose/layout', otherCases], ['reduce', reduceCases]] as const) {
    describe(group, () => {
      for (const c of cases) it(c.name, () => check(c));
    });
  }
  it('GroupNorm keeps its statistics exact under a large common offset (float64 reference)', () => {
    // The statistics are one pass of shifted sums: with values 1e4 + N(0, 1), plain sums of squares would cancel.
    const [rows, positions, channels, groups] = [2, 300, 12, 3];
    const x = data(rows * positions * channels, 7).map((v, i) => 1e4 + v + (i % channels) * 0.25);
    const gamma = data(channels, 8), beta = data(channels, 9);
    const y = new Float32Array(x.length);
    registerNativeBackend();
    const a = (tf.engine().findBackend('native') as unknown as { addon: { groupNorm(...args: unknown[]): void } }).addon;
    a.groupNorm(x, rows, positions, channels, groups, gamma, beta, 1e-5, false, y);
    const cg = channels / groups;
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < groups; g++) {
        let sum = 0, sq = 0;
        for (let p = 0; p < positions; p++) for (let j = g * cg; j < (g + 1) * cg; j++) sum += x[(r * positions + p) * channels + j]!;
        const m = sum / (positions * cg);
        for (let p = 0; p < positions; p++) for (let j = g * cg; j < (g + 1) * cg; j++) sq += (x[(r * positions + p) * channels + j]! - m) ** 2;
        const rstd = 1 / Math.sqrt(sq / (positions * cg) + 1e-5);
        for (let p = 0; p < positions; p++) {
          for (let j = g * cg; j < (g + 1) * cg; j++) {
            const i = (r * positions + p) * channels + j;
            worst = Math.max(worst, Math.abs(y[i]! - ((x[i]! - m) * rstd * gamma[j]! + beta[j]!)));
          }
        }
      }
    }
    // float32 inputs near 1e4 carry 1e-3 of absolute rounding: the output's error is that over the unit std, no more.
    expect(worst).toBeLessThan(5e-3);
  });
  const hasBf16 = registerNativeBackend().isa.includes('bf16') || registerNativeBackend().isa.includes('amx');
  describe.skipIf(!hasBf16)('bf16 compute, against fp32 on cpu', () => {
    for (const c of bf16Cases) {
      it(c.name, async () => {
        registerNativeBackend({ precision: 'bf16' });
        try {
          const err = await checkBf16(c);
          console.log(`${c.name}: max error / max |output| = ${err.toExponential(2)}`);
          expect(err).toBeLessThan(1e-2);
          expect(err).toBeGreaterThan(0); // it did compute in bf16
        } finally {
          registerNativeBackend({ precision: 'fp32' });
        }
      });
    }
  });
});
