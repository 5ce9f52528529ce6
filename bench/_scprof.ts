import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { prepareGanCase } from './lib/gan-baselines.js';
await initBackend({ backend: 'native' });
const p = (await prepareGanCase('styleclip-step', "StyleGAN2 paper256 (256x256) + CLIP ViT-B/32: forward, backprop, Adam update, and the returned image's synthesis"))!;
for (let i = 0; i < 2; i++) { const t = performance.now(); const y = await p.run(); y.dataSync(); y.dispose(); console.log('step', (performance.now() - t).toFixed(0)); }
const prof = await tf.profile(async () => { const y = await p.run(); y.dataSync(); y.dispose(); });
const agg = new Map<string, { ms: number; n: number; shape: string }>();
for (const k of prof.kernels) { const key = k.name + ' ' + JSON.stringify(k.inputShapes).slice(0, 70); const a = agg.get(key) ?? { ms: 0, n: 0, shape: '' }; a.ms += k.kernelTimeMs as number; a.n++; a.shape = JSON.stringify(k.inputShapes).slice(0, 80); agg.set(key, a); }
const tot = [...agg.values()].reduce((s, a) => s + a.ms, 0);
console.log('total', tot.toFixed(0));
for (const [n, a] of [...agg.entries()].sort((x, y) => y[1].ms - x[1].ms).slice(0, 30)) console.log(n.padEnd(32), String(a.n).padStart(5), a.ms.toFixed(0).padStart(7), a.shape);
