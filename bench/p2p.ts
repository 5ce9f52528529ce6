/**
 * Prompt-to-Prompt overhead: one CFG denoising step (UNet call on [uncond × 2, cond × 2], two prompts as P2P runs
 * them) with no hooks, against the same step with the P2P controller's hooks, with the controller and the
 * attention store, and with both plus LocalBlend's step callback; reported as ms per step and the ratio to the
 * plain step. The UNet is SD 1.5's architecture at reduced width (block_out_channels [64, 128, 256, 256],
 * 8 heads, 768-wide text states) with random weights, at 32×32 latents, so it runs on the wasm heap; the hooked
 * work (attention maps, 77 keys) keeps SD's shapes per head. Each configuration runs in its own child process.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/p2p.ts [--reps=5] [--warmup=1] [--latent=32]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createGenerator } from '@semedit/core';
import { initBackend, type BackendInfo } from '@semedit/core/backend';
import type { RawTensor } from '@semedit/core/io';
import { cfgDenoiser, unetDenoiser, withHooks, type StepEvent } from '@semedit/core/pipeline';
import { UNet2DConditionModel, buildUNetParams, composeResolvers, resolveUNetConfig, unetWeightShapes, type UNet2DConditionConfig } from '@semedit/core/unet';
import { ClipTokenizer } from '@semedit/core/clip';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
// The P2P module by path: bench/ depends on @semedit/core only.
import { attentionReplace, createAttentionStore, localBlend } from '@semedit/edit';
import { intArg, machine, printTable, timeIt, writeResult } from './lib/harness.js';

const reps = intArg('reps', 5);
const warmup = intArg('warmup', 1);
const latent = intArg('latent', 32);
const STEPS = 50;

const CONFIG: UNet2DConditionConfig = {
  _class_name: 'UNet2DConditionModel', attention_head_dim: 8, block_out_channels: [64, 128, 256, 256], cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 2, norm_num_groups: 32, in_channels: 4, out_channels: 4, sample_size: latent,
};

/** The timed configurations, by index. */
export const CONFIGS = ['plain CFG', 'P2P replace hooks', 'P2P hooks + store', 'P2P hooks + store + LocalBlend'] as const;

/** A toy tokenizer for the two prompts (words are vocabulary entries; P2P only needs word → token positions). */
function toyTokenizer(): ClipTokenizer {
  const words = ['a', 'cat', 'dog', 'riding', 'bicycle'];
  const bytes = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i < 33 ? 256 + i : i));
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const b of bytes) vocab[b] = id++;
  for (const b of bytes) vocab[`${b}</w>`] = id++;
  const merges: string[] = [];
  for (const w of words) {
    let cur = w[0]!;
    for (let i = 1; i < w.length; i++) {
      const next = i === w.length - 1 ? `${w[i]}</w>` : w[i]!;
      merges.push(`${cur} ${next}`);
      cur += next;
      vocab[cur] ??= id++;
    }
  }
  vocab['<|startoftext|>'] = id++;
  vocab['<|endoftext|>'] = id++;
  return ClipTokenizer.fromHf({ vocab, merges: `#version: 0.2\n${merges.join('\n')}\n` });
}

function randomWeights(shapes: Readonly<Record<string, number[]>>): Map<string, RawTensor> {
  const gen = createGenerator(1);
  const out = new Map<string, RawTensor>();
  for (const [key, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = shape.length === 1 ? new Float32Array(n).fill(/norm[^.]*\.weight$/.test(key) ? 1 : 0) : gen.normal(n);
    if (shape.length > 1) {
      const scale = 1 / Math.sqrt(n / shape[0]!);
      for (let i = 0; i < n; i++) data[i]! *= scale;
    }
    out.set(key, { dtype: 'float32', shape, data });
  }
  return out;
}

/**
 * One CFG denoising step of configuration `index` of {@link CONFIGS} (0 plain, 1 P2P replace hooks, 2 + attention
 * store, 3 + LocalBlend), on the reduced-width SD 1.5 UNet (seed 1) at `latent`x`latent`, built on the active
 * backend. Returns the step (its output: the guided eps, or LocalBlend's latents) and a disposer.
 *
 * @example
 * ```ts
 * const s = p2pStepSetup(3, 32);
 * s.step().shape; // [2, 32, 32, 4]
 * ```
 */
export function p2pStepSetup(index: number, latent: number): { step: () => tf.Tensor; dispose: () => void } {
  const cfg = resolveUNetConfig({ ...CONFIG, sample_size: latent });
  const unet = new UNet2DConditionModel(cfg, buildUNetParams(randomWeights(unetWeightShapes(cfg)), cfg));
  const tokenizer = toyTokenizer();
  const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];
  const gen = createGenerator(2);
  const ehs = tf.tensor3d(gen.normal(2 * 77 * 768), [2, 77, 768]);
  const x = tf.tensor4d(gen.normal(2 * latent * latent * 4), [2, latent, latent, 4]);
  const ctl = index >= 1 ? attentionReplace({ tokenizer, prompts, numSteps: STEPS }) : undefined;
  const store = index >= 2 ? createAttentionStore({ kinds: ['cross'] }) : undefined;
  const lb = index >= 3 ? localBlend({ tokenizer, prompts, words: ['cat', 'dog'], store: store!, unetConfig: cfg }) : undefined;
  const denoise = cfgDenoiser(withHooks(unetDenoiser(unet), ctl?.hooks, store?.hooks), { cond: ehs, uncond: ehs, scale: 7.5 });
  let i = 0;
  const step = () => {
    const s = { index: i % 10, count: STEPS, timestep: 999 - 20 * (i % 10) };
    i++;
    const eps = denoise(x, s);
    const blended = lb?.onStepEnd({ ...s, latents: eps, x0Pred: undefined } as StepEvent);
    if (blended) eps.dispose();
    return blended ?? eps;
  };
  return {
    step,
    dispose: () => {
      tf.dispose([ehs, x]);
      unet.dispose();
    },
  };
}

async function child(index: number): Promise<void> {
  const info = await initBackend();
  const mode = CONFIGS[index]!;
  const { step } = p2pStepSetup(index, latent);
  const t = timeIt(() => { const y = step(); y.dataSync(); y.dispose(); }, { warmup, reps });
  process.stdout.write(`@@RESULT ${JSON.stringify({ info, row: { case: mode, ...t } })}\n`);
}

async function main(): Promise<void> {
  const rows: { case: string; medianMs: number; minMs: number; reps: number }[] = [];
  let info: BackendInfo | undefined;
  for (let i = 0; i < CONFIGS.length; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), `--child=${i}`], {
      encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
    if (!line) throw new Error(`configuration ${CONFIGS[i]} printed no result`);
    const r = JSON.parse(line.slice(9)) as { info: BackendInfo; row: (typeof rows)[number] };
    info = r.info;
    rows.push(r.row);
  }
  const base = rows[0]!.medianMs;
  const m = machine();
  console.log(`machine: ${m.cpu}, ${m.logicalCores} logical cores, Node ${m.node}`);
  console.log(`backend: ${info!.name} (${info!.detail}); UNet SD-1.5 layout at width 64, latents ${latent}x${latent}, batch 4 (CFG x 2 prompts)`);
  printTable(['configuration', 'median ms/step', 'min ms', 'x plain CFG'], rows.map((r) => [r.case, r.medianMs.toFixed(1), r.minMs.toFixed(1), (r.medianMs / base).toFixed(3)]));
  console.log(`wrote ${writeResult('p2p', { bench: 'p2p', date: new Date().toISOString(), machine: m, backend: info, latent, timings: rows, ratios: rows.map((r) => ({ case: r.case, ratio: r.medianMs / base })) })}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const childIndex = intArg('child', -1 >>> 0);
  if (childIndex !== -1 >>> 0) await child(childIndex);
  else await main();
}
