import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { scaledDotProductAttention } from '../packages/core/src/nn/attention.js';
await initBackend({ backend: 'native' });
const q = tf.randomNormal([2, 4096, 320]) as tf.Tensor3D, k = tf.randomNormal([2, 4096, 320]) as tf.Tensor3D;
for (let i = 0; i < 3; i++) { const t = performance.now(); tf.tidy(() => scaledDotProductAttention(q, k, k, { heads: 8 }).dataSync()); console.log('self-attn 64x64', (performance.now() - t).toFixed(0), 'ms'); }
const x = tf.randomNormal([8192, 1280]);
for (let i = 0; i < 3; i++) { const t = performance.now(); tf.tidy(() => tf.erf(x).dataSync()); console.log('erf 8192x1280', (performance.now() - t).toFixed(0), 'ms'); }
