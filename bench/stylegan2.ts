/**
 * StyleGAN2 synthesis at the FFHQ 1024x1024 config (stylegan2-ada `paper1024`: z/w 512, channel_base 32768,
 * channel_max 512, 8 mapping layers, conv_clamp 256) with random weights: ms per image (batch 1, W+ → image,
 * noise 'const') on each backend, as a ratio to single-threaded wasm measured in the same run. Also the mapping
 * (z → W+) alone. Each configuration runs in its own child process (same weights, same seed).
 *
 *   pnpm exec tsx --conditions=@repo/source bench/stylegan2.ts [--reps=3] [--warmup=1] [--res=1024] [--cpu=0]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { fileURLToPath } from 'node:url';
// Not yet re-exported from @semedit/core (the lead wires the public exports).
import { nvlabsGeneratorFromTensors, randomNvlabsWeights, resolveStyleGan2Config, type StyleGan2Config } from '@semedit/core/stylegan2';
import { intArg, reportFromChild, runBench, timeIt } from './lib/harness.js';

const reps = intArg('reps', 3);
const warmup = intArg('warmup', 1);
const res = intArg('res', 1024);
const withCpu = intArg('cpu', 0) > 0;

/**
 * stylegan2-ada's `paper1024` (FFHQ) config at output resolution `resolution`.
 *
 * @example
 * ```ts
 * ffhqConfig(1024).channel_base; // 32768
 * ```
 */
export function ffhqConfig(resolution: number): StyleGan2Config {
  return {
    z_dim: 512, w_dim: 512, c_dim: 0, img_resolution: resolution, img_channels: 3, num_layers: 8,
    channel_base: 32768, channel_max: 512, num_fp16_res: 4, conv_clamp: 256,
  };
}
const FFHQ = ffhqConfig(res);

/**
 * The generator on seeded random weights (seed 1, noise strength 0.1) and the W+ of z seed 7 (truncation 0.7),
 * on the active backend: what every synthesis timing runs.
 *
 * @example
 * ```ts
 * const { G, ws } = stylegan2Setup(ffhqConfig(1024));
 * G.synthesis(ws, { noiseMode: 'const' }).shape; // [1, 1024, 1024, 3]
 * ```
 */
export function stylegan2Setup(config: StyleGan2Config): { G: ReturnType<typeof nvlabsGeneratorFromTensors>; z: tf.Tensor2D; ws: tf.Tensor3D } {
  const G = nvlabsGeneratorFromTensors(randomNvlabsWeights(resolveStyleGan2Config(config), 1, { noiseStrength: 0.1 }), config);
  const z = tf.randomNormal([1, 512], 0, 1, 'float32', 7) as tf.Tensor2D;
  return { G, z, ws: G.mapping(z, { truncationPsi: 0.7 }) as tf.Tensor3D };
}

interface Row { case: string; backend: string; medianMs: number; minMs: number; reps: number; leakedTensors: number }

const CONFIGS: { label: string; opts: Parameters<typeof initBackend>[0] }[] = [
  { label: 'wasm 1 thread', opts: { backend: 'wasm', threads: 1 } },
  { label: 'wasm all threads', opts: { backend: 'wasm' } },
  ...(withCpu ? [{ label: 'cpu', opts: { backend: 'cpu' as const } }] : []),
];

/** Runs one configuration in this process and prints its rows as JSON. */
async function child(index: number): Promise<void> {
  const c = CONFIGS[index]!;
  const info = await initBackend(c.opts);
  const cfg = resolveStyleGan2Config(FFHQ);
  const { G, z, ws } = stylegan2Setup(FFHQ);
  const rows: Row[] = [];
  const r = c.label === 'cpu' ? 1 : reps;
  const w = c.label === 'cpu' ? 0 : warmup;
  const measure = (name: string, f: () => tf.Tensor) => {
    const before = tf.memory().numTensors;
    const t = timeIt(() => tf.tidy(() => void f().dataSync()), { warmup: w, reps: r });
    rows.push({ case: name, backend: c.label, ...t, leakedTensors: tf.memory().numTensors - before });
  };
  measure(`mapping z → W+ [1,${cfg.numWs},512]`, () => G.mapping(z, { truncationPsi: 0.7 }));
  measure(`synthesis W+ → image [1,${res},${res},3]`, () => G.synthesis(ws, { noiseMode: 'const' }));
  reportFromChild(info, rows);
}

function main(): void {
  runBench<Row>({
    name: 'stylegan2', script: fileURLToPath(import.meta.url), labels: CONFIGS.map((c) => c.label), extra: { config: FFHQ },
    columns: { header: ['min ms', 'leaked'], cells: (r) => [r.minMs.toFixed(1), String(r.leakedTensors)] },
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const childIndex = intArg('child', -1 >>> 0);
  if (childIndex !== -1 >>> 0) await child(childIndex);
  else main();
}
