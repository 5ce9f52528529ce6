import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { printProfile, profileRun, topKernels } from './lib/profile.js';
import { clipTextL14 } from './clip.js';
const backend = process.argv[2] as 'native';
await initBackend({ backend });
const m = clipTextL14();
const ids = tf.tensor2d(new Int32Array(77).map((_, i) => (i === 76 ? 49407 : (i * 37) % 49000)), [1, 77], 'int32');
for (let i = 0; i < 2; i++) { const t = performance.now(); tf.tidy(() => { const o = m.forward(ids); (Array.isArray(o) ? o : Object.values(o as object)).forEach((x) => (x as tf.Tensor).dataSync?.()); }); console.log('ms', performance.now() - t); }
const run = await profileRun(() => { const o = m.forward(ids) as unknown; return (o as { lastHiddenState: tf.Tensor }).lastHiddenState ?? (o as tf.Tensor); });
printProfile(`clip ${backend}`, run, topKernels(run, 12));
