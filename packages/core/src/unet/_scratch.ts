import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { loadUNet } from './load.js';
const info = await initBackend(process.argv[2] ? { backend: process.argv[2] as 'cpu' } : {});
console.log(info.detail);
const unet = await loadUNet('/work/shared/fixtures/unet-tiny');
const x = tf.randomNormal([2, 32, 32, 4]) as tf.Tensor4D;
const e = tf.randomNormal([2, 77, 32]) as tf.Tensor3D;
for (let i = 0; i < 4; i++) {
  const t0 = performance.now();
  const y = unet.forward(x, 500, e);
  y.dataSync(); y.dispose();
  console.log('forward', (performance.now() - t0).toFixed(0), 'ms');
}
const prof = await tf.profile(() => { const y = unet.forward(x, 500, e); y.dataSync(); return y; });
const byKernel = new Map<string, { ms: number; n: number }>();
for (const k of prof.kernels) { const v = byKernel.get(k.name) ?? { ms: 0, n: 0 }; v.ms += (k.kernelTimeMs as number) || 0; v.n++; byKernel.set(k.name, v); }
console.log('kernels', prof.kernels.length);
console.log([...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15).map(([k, v]) => `${k}: ${v.ms.toFixed(1)}ms x${v.n}`).join('\n'));
