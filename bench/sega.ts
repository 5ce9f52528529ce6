/**
 * The cost of one SEGA denoising step over plain classifier-free guidance on the same UNet (the tiny reference
 * UNet of the sega-tiny fixture, at a chosen latent size): SEGA with C concepts evaluates 2 + C rows instead of 2,
 * so the ratio should be about (2 + C) / 2 plus the small cost of the guidance math (quantile, masks, momentum).
 * Each configuration runs in its own child process (same weights, same inputs), like bench/clip.ts.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/sega.ts [--size=32] [--reps=5] [--warmup=1]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createGenerator } from '@semedit/core';
import { initBackend, type BackendInfo } from '@semedit/core/backend';
import { cfgDenoiser, unetDenoiser, type Denoiser } from '@semedit/core/pipeline';
import { readManifest } from '@semedit/core/testing';
import { loadUNet } from '@semedit/core/unet';
// Switch to '@semedit/edit' once bench depends on it and the package index exports SEGA.
import { segaDenoiser } from '@semedit/edit';
import { intArg, machine, printTable, timeIt, writeResult } from './lib/harness.js';

const size = intArg('size', 32);
const reps = intArg('reps', 5);
const warmup = intArg('warmup', 1);

/** A timed configuration: CFG (0 concepts) or SEGA with `concepts` concepts, evaluated `chunk` rows at a time. */
export interface Config { label: string; concepts: number; chunk?: number }
const CONFIGS: Config[] = [
  { label: 'CFG (2 rows)', concepts: 0 },
  { label: 'SEGA 1 concept (3 rows)', concepts: 1 },
  { label: 'SEGA 2 concepts (4 rows)', concepts: 2 },
  { label: 'SEGA 4 concepts (6 rows)', concepts: 4 },
  { label: 'SEGA 4 concepts, chunk 1 (4 calls)', concepts: 4, chunk: 1 },
];

interface Row { case: string; concepts: number; rows: number; medianMs: number; minMs: number; reps: number }

/**
 * One guided denoising step of a configuration on sega-tiny's UNet (latents `[1, latent, latent, 4]`), built on the
 * active backend: CFG for 0 concepts, else SEGA with every concept active (warm-up 0). Returns the step (its
 * output: the guided eps) and a disposer.
 *
 * @example
 * ```ts
 * const s = await segaStepSetup({ label: 'SEGA 2 concepts', concepts: 2 }, 32);
 * s.step(0).shape; // [1, 32, 32, 4]
 * ```
 */
export async function segaStepSetup(c: Config, latent: number): Promise<{ step: (i: number) => tf.Tensor; dispose: () => void }> {
  const unet = await loadUNet(readManifest('sega-tiny').components['unet']!);
  const dim = unet.config.crossAttentionDim;
  const gen = createGenerator(5);
  const emb = () => tf.tensor3d(gen.normal(77 * dim), [1, 77, dim]);
  const [cond, uncond] = [emb(), emb()];
  const concepts = Array.from({ length: c.concepts }, emb);
  const x = tf.tensor4d(gen.normal(latent * latent * 4), [1, latent, latent, 4]);
  const model = unetDenoiser(unet);
  // Warm-up 0 so every concept is active (full phase: quantiles, masks and momentum all run).
  const d: Denoiser = c.concepts === 0
    ? cfgDenoiser(model, { cond, uncond, scale: 7.5 })
    : segaDenoiser(model, {
      cond, uncond, concepts, scale: 7.5, recordGuidance: false, conceptChunk: c.chunk || undefined,
      edit: { concepts: concepts.map(() => ({ warmup: 0 })) },
    });
  return {
    step: (i) => d(x, { index: i, count: 1000, timestep: 500 }),
    dispose: () => {
      tf.dispose([cond, uncond, ...concepts, x]);
      unet.dispose();
    },
  };
}

/** Times one step of one configuration in this process and prints its row as JSON. */
async function child(index: number): Promise<void> {
  const c = CONFIGS[index]!;
  const info = await initBackend();
  const { step } = await segaStepSetup(c, size);
  let i = 0;
  const t = timeIt(() => { const eps = step(i++); eps.dataSync(); eps.dispose(); }, { warmup, reps });
  process.stdout.write(`@@RESULT ${JSON.stringify({ info, row: { case: c.label, concepts: c.concepts, rows: 2 + c.concepts, ...t } })}\n`);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  let info: BackendInfo | undefined;
  for (let i = 0; i < CONFIGS.length; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), `--child=${i}`], {
      encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
    if (!line) throw new Error(`configuration ${CONFIGS[i]!.label} printed no result`);
    const r = JSON.parse(line.slice(9)) as { info: BackendInfo; row: Row };
    info = r.info;
    rows.push(r.row);
  }
  const base = rows[0]!;
  const m = machine();
  console.log(`machine: ${m.cpu}, ${m.logicalCores} logical cores, Node ${m.node}`);
  if (info) console.log(`backend: ${info.name} (${info.detail})`);
  console.log(`UNet: sega-tiny's unet-tiny, latents [1, ${size}, ${size}, 4], median of ${reps}`);
  printTable(['case', 'UNet rows', 'median ms', 'x CFG', 'rows / 2'], rows.map((r) => [
    r.case, String(r.rows), r.medianMs.toFixed(1), (r.medianMs / base.medianMs).toFixed(2), (r.rows / 2).toFixed(2),
  ]));
  // The dashboard's `speedup` is baseline / case (below 1: SEGA costs more); `costOverCfg` is its inverse.
  const ratios = rows.slice(1).map((r) => ({
    case: r.case, speedup: base.medianMs / r.medianMs, baseline: base.case, costOverCfg: r.medianMs / base.medianMs, rowRatio: r.rows / 2,
  }));
  const result = { bench: 'sega', date: new Date().toISOString(), machine: m, backends: info ? [info] : [], size, timings: rows, ratios };
  console.log(`wrote ${writeResult('sega', result)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const childIndex = intArg('child', -1 >>> 0);
  if (childIndex !== -1 >>> 0) await child(childIndex);
  else await main();
}
