import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { readManifest } from '@semedit/core/testing';
import { loadUNet } from '@semedit/core/unet';
await initBackend({ backend: 'native' });
const m = readManifest('p2p-tiny');
const unet = await loadUNet(m.components['unet']!);
const cfg = unet.config as unknown as { sampleSize: number; inChannels: number; crossAttentionDim: number };
const s = 16, c = 4;
const x2 = tf.randomNormal([2, s, s, c], 0, 1, 'float32', 1) as tf.Tensor4D;
const e2 = tf.randomNormal([2, 77, (unet as unknown as { config: { crossAttentionDim: number } }).config.crossAttentionDim], 0, 1, 'float32', 2) as tf.Tensor3D;
const x4 = tf.concat([x2, tf.randomNormal([2, s, s, c], 0, 1, 'float32', 3)]) as tf.Tensor4D;
const e4 = tf.concat([e2, tf.randomNormal(e2.shape, 0, 1, 'float32', 4)]) as tf.Tensor3D;
const names = process.argv.slice(2);
for (const n of names) { tf.unregisterKernel(n, 'native'); tf.registerKernel({ ...tf.getKernel(n, 'cpu')!, backendName: 'native' }); }
const a = unet.forward(x2, 500, e2).dataSync();
const b = tf.slice(unet.forward(x4, 500, e4), [0, 0, 0, 0], [2, s, s, c]).dataSync();
let d = 0; for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
console.log('cpu kernels for', names.join(',') || '(none)', ': batch2 vs batch4 rows maxdiff', d);
