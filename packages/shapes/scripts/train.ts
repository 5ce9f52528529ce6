/**
 * Trains a shapes-world model with semedit's own code, checkpointing as it goes (stop it any time; the same
 * command resumes), then writes its float16 weights, its loss curves and its scores.
 *
 *   pnpm shapes:train <classifier|vae|clip|unet>   (unet needs vae and clip trained first) [--steps N] [--batch B] [--ckpt-dir .shapes-train] [--out packages/shapes/weights]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { classifierAccuracy, classifierParamsOf, loadClassifier, saveClassifier, trainClassifier } from '../src/models/classifier-train.js';
import { CLASSIFIER_CONFIG, classifierLogits } from '../src/models/classifier.js';
import { latentScale, saveVae, trainVae } from '../src/models/vae-train.js';
import { clipAttributeAccuracy, saveClip, trainClip } from '../src/models/clip-train.js';
import { shapesTokenizer, writeShapesTokenizer } from '../src/models/vocab.js';
import { saveUNet, trainUNet } from '../src/models/unet-train.js';
import { loadClipTextModel, loadStableDiffusion, loadVae, runTextToImage } from '@semedit/core';
import { captionOf } from '../src/world/caption.js';
import { lossLogPath, readLossLog, type TrainProgress } from '../src/train/loop.js';
import { writeCurves } from '../src/train/curves.js';
import { shapesBatch } from '../src/world/dataset.js';

const MODELS = ['classifier', 'vae', 'clip', 'unet'] as const;
const DEFAULT_STEPS: Record<(typeof MODELS)[number], number> = { classifier: 1500, vae: 3000, clip: 1500, unet: 20000 };
const DEFAULT_BATCH: Record<(typeof MODELS)[number], number> = { classifier: 32, vae: 16, clip: 64, unet: 32 };

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const model = args[0] as (typeof MODELS)[number];
if (!MODELS.includes(model)) {
  console.error(`usage: shapes:train <${MODELS.join('|')}> [--steps N] [--batch B] [--ckpt-dir DIR] [--out DIR] (got ${model ?? 'nothing'})`);
  process.exit(2);
}
const steps = Number(flag('steps', String(DEFAULT_STEPS[model]))), batch = Number(flag('batch', String(DEFAULT_BATCH[model])));
const ckptDir = flag('ckpt-dir', '.shapes-train'), out = flag('out', 'packages/shapes/weights');
mkdirSync(ckptDir, { recursive: true });
const info = await initBackend();
console.log(info.detail);
const checkpoint = join(ckptDir, `${model}.safetensors`);
const started = Date.now();
const bar = (p: TrainProgress): void => {
  const w = 30, done = Math.round((p.step / p.steps) * w);
  const eta = p.etaMs === null ? '?' : `${Math.round(p.etaMs / 1000)}s`;
  const losses = Object.entries(p.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
  process.stdout.write(`\r[${'#'.repeat(done)}${'.'.repeat(w - done)}] ${p.step}/${p.steps} ${losses} eta ${eta}   `);
};
const common = { steps, batch, checkpoint, checkpointEvery: 50, onProgress: bar };
/** Runs a trainer to its end (its bar on one line) and returns what it hands back. */
async function finish<T>(run: AsyncGenerator<unknown, T>): Promise<T> {
  let r = await run.next();
  while (!r.done) r = await run.next();
  process.stdout.write('\n');
  return r.value;
}
const scoresFile = (dir: string, extra: object): void => {
  writeFileSync(join(dir, 'scores.json'), `${JSON.stringify({ steps, batch, backend: info.name, seconds_this_run: Math.round((Date.now() - started) / 1000), ...extra }, null, 2)}\n`);
};

if (model === 'classifier') {
  const vars = await finish(trainClassifier(common));
  const params = classifierParamsOf(vars, CLASSIFIER_CONFIG);
  const scores = classifierAccuracy((x) => classifierLogits(params, x), { n: 512, split: 'eval' });
  const trainScores = classifierAccuracy((x) => classifierLogits(params, x), { n: 256, split: 'train', seed: 3 });
  console.log('held-out accuracy', scores);
  const dir = join(out, 'classifier');
  await saveClassifier(dir, vars, CLASSIFIER_CONFIG, { steps: String(steps), batch: String(batch) });
  await writeCurves(join(dir, 'losses.png'), await readLossLog(lossLogPath(checkpoint)), 'scene classifier');
  scoresFile(dir, { eval: scores, train: trainScores });
  tf.dispose([...vars.values()]);
  console.log(`wrote ${dir}`);
} else if (model === 'unet') {
  const sdDir = join(out, 'sd');
  const vae = await loadVae(join(sdDir, 'vae'));
  const textEncoder = await loadClipTextModel(join(sdDir, 'text_encoder'));
  const unet = await finish(trainUNet({ ...common, vae, textEncoder, tokenizer: shapesTokenizer() }));
  await saveUNet(sdDir, unet);
  await writeShapesTokenizer(join(sdDir, 'tokenizer'));
  unet.dispose();
  textEncoder.dispose();
  vae.dispose();
  // Generation accuracy: held-out prompts, DDIM 25 steps, guidance 5, read by the classifier.
  const pipe = await loadStableDiffusion(sdDir);
  const classifier = await loadClassifier(join(out, 'classifier'));
  const examples = shapesBatch(11, 0, 32, { split: 'eval', twoObjects: 0 });
  let right = 0;
  for (const [i, e] of examples.examples.entries()) {
    const g = await runTextToImage(pipe, { prompt: captionOf(e.scene), numInferenceSteps: 25, guidanceScale: 5, seed: i, height: 64, width: 64 });
    const x = tf.tidy(() => tf.sub(tf.mul(g.images, 2), 1) as tf.Tensor4D);
    const read = classifier.read(x)[0]!;
    x.dispose();
    const o = e.scene.objects[0]!, got = read.objects[o.position];
    if (read.background === e.scene.background && got?.shape === o.shape && got.colour === o.colour && got.size === o.size) right++;
    tf.dispose([g.images, g.latents]);
  }
  examples.dispose();
  const generationAccuracy = right / 32;
  console.log('generation accuracy (held-out prompts, 32)', generationAccuracy);
  await writeCurves(join(sdDir, 'unet', 'losses.png'), await readLossLog(lossLogPath(checkpoint)), 'UNet');
  scoresFile(join(sdDir, 'unet'), { generation_accuracy: generationAccuracy, n: 32, sampler: 'DDIM 25 steps, guidance 5' });
  classifier.dispose();
  pipe.dispose();
  console.log(`wrote ${sdDir}`);
} else if (model === 'clip') {
  const clip = await finish(trainClip(common));
  const scores = clipAttributeAccuracy(clip, shapesTokenizer(), 256);
  console.log('held-out zero-shot attribute accuracy', scores);
  const dir = join(out, 'clip');
  await saveClip(dir, clip, join(out, 'sd', 'text_encoder'));
  await writeCurves(join(dir, 'losses.png'), await readLossLog(lossLogPath(checkpoint)), 'CLIP');
  scoresFile(dir, { zero_shot_attribute_accuracy: scores, logit_scale: clip.params.logit_scale.dataSync()[0] });
  clip.dispose();
  console.log(`wrote ${dir}`);
} else {
  const vae = await finish(trainVae(common));
  const scale = latentScale(vae);
  // Reconstruction error on held-out scenes, and how the classifier reads reconstructions against the originals.
  const classifier = await loadClassifier(join(out, 'classifier'));
  let l1 = 0;
  const recon = classifierAccuracy((x) => tf.tidy(() => classifier.logits(vae.decode(vae.encode(x).mean))), { n: 256, split: 'eval' });
  for (let i = 0; i < 4; i++) {
    const b = shapesBatch(2, i * 32, 32, { split: 'eval' });
    l1 += tf.tidy(() => tf.mean(tf.abs(tf.sub(vae.decode(vae.encode(b.images).mean), b.images))).dataSync()[0]!) / 4;
    b.dispose();
  }
  console.log('scaling factor', scale, 'held-out L1', l1, 'classifier on reconstructions', recon);
  const dir = join(out, 'sd', 'vae');
  await saveVae(dir, vae, scale);
  await writeCurves(join(dir, 'losses.png'), await readLossLog(lossLogPath(checkpoint)), 'VAE');
  scoresFile(dir, { scaling_factor: scale, eval_l1: l1, classifier_on_reconstructions: recon });
  classifier.dispose();
  vae.dispose();
  console.log(`wrote ${dir}`);
}
