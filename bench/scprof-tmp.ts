import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { styleclipSetup } from './styleclip.js';
import { printProfile, profileRun, topKernels } from './lib/profile.js';
await initBackend({ backend: 'native' });
const s = styleclipSetup();
for (let i = 0; i < 2; i++) { const t = performance.now(); const out = await s.step(); out.dataSync(); out.dispose(); console.log('step', (performance.now() - t).toFixed(0), 'ms'); }
const prof = await tf.profile(async () => { const o = await s.step(); o.dataSync(); return o; });
const byName = new Map<string, [number, number]>();
for (const k of prof.kernels) { const e = byName.get(k.name) ?? [0, 0]; e[0] += Number(k.kernelTimeMs) || 0; e[1]++; byName.set(k.name, e); }
for (const [n, [ms, c]] of [...byName].sort((a, b) => b[1][0] - a[1][0]).slice(0, 16)) console.log(n.padEnd(28), c, ms.toFixed(0));
