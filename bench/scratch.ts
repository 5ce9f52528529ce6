import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
const backend = process.argv[2] as 'native';
await initBackend({ backend });
const x = tf.randomNormal([2, 8, 8, 32]) as tf.Tensor4D, w = tf.randomNormal([3, 3, 32, 32]) as tf.Tensor4D;
const a = tf.randomNormal([64, 32]), b = tf.randomNormal([32, 32]);
const cases: [string, () => tf.Tensor][] = [
  ['conv 2x8x8x32', () => tf.conv2d(x, w, 1, 'same')],
  ['matmul 64x32x32', () => tf.matMul(a, b)],
  ['add', () => tf.add(x, x)],
  ['exp', () => tf.exp(x)],
  ['softmax', () => tf.softmax(a)],
  ['mean axis', () => tf.mean(x, [1, 2])],
  ['transpose', () => tf.transpose(x, [0, 3, 1, 2])],
  ['reshape', () => tf.reshape(x, [128, 32])],
];
for (const [n, f] of cases) {
  for (let i = 0; i < 50; i++) tf.tidy(f);
  const t = performance.now();
  for (let i = 0; i < 500; i++) tf.tidy(f);
  console.log(backend, n, ((performance.now() - t) / 500 * 1000).toFixed(1), 'us');
}
