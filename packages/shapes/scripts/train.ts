/**
 * Trains a shapes-world model with semedit's own code, checkpointing as it goes (stop it any time; the same
 * command resumes), then writes its float16 weights, its loss curves and its scores.
 *
 *   pnpm shapes:train classifier [--steps 1500] [--batch 32] [--ckpt-dir .shapes-train] [--out packages/shapes/weights]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { classifierAccuracy, classifierParamsOf, saveClassifier, trainClassifier } from '../src/models/classifier-train.js';
import { CLASSIFIER_CONFIG, classifierLogits } from '../src/models/classifier.js';
import { lossLogPath, readLossLog } from '../src/train/loop.js';
import { writeCurves } from '../src/train/curves.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const model = args[0];
if (model !== 'classifier') {
  console.error(`usage: shapes:train classifier [--steps N] [--batch B] [--ckpt-dir DIR] [--out DIR] (got ${model ?? 'nothing'})`);
  process.exit(2);
}
const steps = Number(flag('steps', '1500')), batch = Number(flag('batch', '32'));
const ckptDir = flag('ckpt-dir', '.shapes-train'), out = flag('out', 'packages/shapes/weights');
mkdirSync(ckptDir, { recursive: true });
const info = await initBackend();
console.log(info.detail);
const checkpoint = join(ckptDir, 'classifier.safetensors');
const started = Date.now();
const bar = (p: { step: number; steps: number; losses: Record<string, number>; etaMs: number | null }): void => {
  const w = 30, done = Math.round((p.step / p.steps) * w);
  const eta = p.etaMs === null ? '?' : `${Math.round(p.etaMs / 1000)}s`;
  const total = Object.values(p.losses).reduce((a, b) => a + b, 0);
  process.stdout.write(`\r[${'#'.repeat(done)}${'.'.repeat(w - done)}] ${p.step}/${p.steps} loss ${total.toFixed(4)} eta ${eta}   `);
};
const run = trainClassifier({ steps, batch, checkpoint, checkpointEvery: 50, onProgress: bar });
let r = await run.next();
while (!r.done) r = await run.next();
process.stdout.write('\n');
const vars = r.value;
const params = classifierParamsOf(vars, CLASSIFIER_CONFIG);
const scores = classifierAccuracy((x) => classifierLogits(params, x), { n: 512, split: 'eval' });
const trainScores = classifierAccuracy((x) => classifierLogits(params, x), { n: 256, split: 'train', seed: 3 });
console.log('held-out accuracy', scores);
const dir = join(out, 'classifier');
await saveClassifier(dir, vars, CLASSIFIER_CONFIG, { steps: String(steps), batch: String(batch) });
await writeCurves(join(dir, 'losses.png'), await readLossLog(lossLogPath(checkpoint)), 'scene classifier');
writeFileSync(join(dir, 'scores.json'), `${JSON.stringify({ steps, batch, backend: info.name, seconds_this_run: Math.round((Date.now() - started) / 1000), eval: scores, train: trainScores }, null, 2)}\n`);
tf.dispose([...vars.values()]);
console.log(`wrote ${dir}`);
