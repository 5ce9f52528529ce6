import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
await initBackend({ backend: 'native' });
const a = tf.randomNormal([8192, 1280]), w = tf.randomNormal([1280, 5120]), bias = tf.zeros([5120]);
for (let i = 0; i < 4; i++) { const t = performance.now(); const y = tf.fused.matMul({ a, b: w, bias }); y.dataSync(); y.dispose(); console.log('linear 8192x1280x5120', (performance.now() - t).toFixed(0), 'ms', (2 * 8192 * 1280 * 5120 / ((performance.now() - t) / 1000) / 1e9).toFixed(0), 'GFLOPS'); }
