/**
 * The PyTorch baseline of the StyleGAN2 cases (`stylegan2-1024`, `styleclip-step`), on the same weights and inputs
 * as ours: `bench/baselines/stylegan2_cases.py setup` writes random weights (StyleGAN2 in NVLabs keys, CLIP in HF
 * keys), the inputs and PyTorch's outputs to a cache folder (default `bench/.cache/stylegan2`, or
 * `$SEMEDIT_GAN_CACHE`) from the {@link ganSpec} this file makes, so both sides share one definition of each case;
 * our child loads that folder with `loadNvlabsGenerator` / `loadClipModel` ({@link prepareGanCase}) and compares with
 * PyTorch's stored output; `stylegan2_cases.py time` times PyTorch on it with our thread count ({@link ganTorch}).
 *
 * ```ts
 * const s = ganSetup('stylegan2-1024');                 // made once, then reused while the spec is the same
 * const t = ganTorch('stylegan2-1024', { reps: 3, warmup: 1, threads: 2 });
 * ```
 *
 * Run alone it sets up and times one case and prints the result as JSON:
 * `pnpm exec tsx --conditions=@repo/source bench/lib/gan-baselines.ts --case=stylegan2-1024 --reps=1 --warmup=1`.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadClipModel } from '@semedit/core/clip';
import { nchwToNhwc } from '@semedit/core/fixtures';
import { readSafetensors, type RawTensor } from '@semedit/core/io';
import { loadNvlabsGenerator, type StyleGan2Config } from '@semedit/core/stylegan2';
import { CLIP_VIT_B32, G256, STYLECLIP_STEP, STYLECLIP_TOKENS, styleclipStep } from '../styleclip.js';
import { ffhqConfig } from '../stylegan2.js';
import type { BackendInfo } from '@semedit/core/backend';
import type { Prepared, RepPolicy } from './prepared.js';
import type { Measurement } from './bench-json.js';
import type { BaselineTiming } from './sd15-baselines.js';
import { maxAbsDiff } from './ort.js';
import { findPython } from './python.js';

const BENCH = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CASES_PY = join(BENCH, 'baselines', 'stylegan2_cases.py');

/** The default cache folder: `$SEMEDIT_GAN_CACHE`, else `bench/.cache/stylegan2` (gitignored). */
export const GAN_CACHE: string = process.env['SEMEDIT_GAN_CACHE'] ? resolve(process.env['SEMEDIT_GAN_CACHE']) : join(BENCH, '.cache', 'stylegan2');

/** The bench cases with a PyTorch StyleGAN2 baseline. */
export type GanCase = 'stylegan2-1024' | 'styleclip-step';

/** What `stylegan2_cases.py setup` builds for a case (snake_case: it is read by Python and kept in the manifest). */
export interface GanSpec {
  case: GanCase;
  /** Flat StyleGAN2 config (stylegan2-ada kwarg names). */
  generator: StyleGan2Config;
  truncation_psi: number;
  noise_strength: number;
  noise_mode: 'const';
  /** PyTorch's modulated-conv path: per-sample weights (the reference's inference path) or scaled activations (ours). */
  modconv: 'fused' | 'unfused';
  /** Seed of the weights (PyTorch's init) and of z. */
  seed: number;
  /** styleclip-step: the CLIPConfig, the description's token ids and the optimization settings. */
  clip?: Record<string, unknown>;
  tokens?: number[][];
  steps?: number;
  lr?: number;
  l2_lambda?: number;
}

/**
 * The spec of a case as the bench runs it: `stylegan2-1024` is `ffhqConfig(1024)`, W+ of one z truncated at 0.7,
 * noise strength 0.1, noise 'const'; `styleclip-step` is the `paper256` generator, CLIP ViT-B/32 and one step of
 * `styleclipStep` (bench/styleclip.ts). PyTorch runs the fused modulated conv for the synthesis alone (what the
 * reference runs at inference) and the unfused one for the StyleCLIP step (no weight-gradient convs in the backward
 * pass; its float32 gradient matches float64's, the fused path's does not). `overrides` replaces fields (tests use
 * tiny configs).
 *
 * @example
 * ```ts
 * ganSpec('stylegan2-1024').generator.img_resolution; // 1024
 * ```
 */
export function ganSpec(name: GanCase, overrides: Partial<GanSpec> = {}): GanSpec {
  const base = { case: name, truncation_psi: STYLECLIP_STEP.truncationPsi, noise_strength: 0.1, noise_mode: 'const' as const, seed: 0 };
  if (name === 'stylegan2-1024') return { ...base, generator: ffhqConfig(1024), modconv: 'fused', ...overrides };
  const { steps, lr, l2Lambda } = STYLECLIP_STEP;
  return {
    ...base, generator: G256, modconv: 'unfused', clip: CLIP_VIT_B32 as Record<string, unknown>, tokens: STYLECLIP_TOKENS, steps, lr, l2_lambda: l2Lambda, ...overrides,
  };
}

/** The files of one case in a cache folder (see `stylegan2_cases.py`). */
export interface GanCachePaths {
  dir: string;
  /** `config.json` (flat StyleGAN2 config) + `generator.safetensors` (NVLabs keys). */
  generatorDir: string;
  /** styleclip-step: an HF CLIPModel folder (`config.json`, `model.safetensors`). */
  clipDir: string;
  /** NCHW: `z`, `ws`, `image` (PyTorch's output); styleclip-step also `tokens`, `grad`, `loss`. */
  io: string;
  /** Written last by setup: the spec, torch version, parameter counts. */
  manifest: string;
}

/**
 * The paths of one case in a cache folder (nothing is created).
 *
 * @example
 * ```ts
 * ganCachePaths(GAN_CACHE, 'styleclip-step').clipDir; // .../bench/.cache/stylegan2/styleclip-step/clip
 * ```
 */
export function ganCachePaths(dir: string, name: GanCase): GanCachePaths {
  const d = join(dir, name);
  return { dir: d, generatorDir: join(d, 'generator'), clipDir: join(d, 'clip'), io: join(d, 'io.safetensors'), manifest: join(d, 'manifest.json') };
}

/** JSON with sorted object keys, to compare specs (the manifest's went through Python). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
}

/** The manifest of a case's cache, or null when there is none. */
function readManifest(p: GanCachePaths): { spec: GanSpec } & Record<string, unknown> | null {
  return existsSync(p.manifest) && existsSync(p.io) ? (JSON.parse(readFileSync(p.manifest, 'utf8')) as { spec: GanSpec }) : null;
}

function runPy(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): { json: Record<string, unknown>; python: string } | { error: string } {
  const py = findPython();
  if ('reason' in py) return { error: py.reason };
  const r = spawnSync(py.python, [CASES_PY, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${String(r.status ?? r.signal)}`;
    return { error: `stylegan2_cases.py ${args[0]}: ${why}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
  }
  const line = r.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{')) ?? '{}';
  return { json: JSON.parse(line) as Record<string, unknown>, python: py.python };
}

/**
 * Makes (or reuses) a case's cache with PyTorch. Never throws for a missing Python or a failed setup: the reason
 * comes back instead (our side then runs on seeded random weights and says so).
 *
 * @param name  the case
 * @param opts  `cache` folder (default {@link GAN_CACHE}), `spec` (default {@link ganSpec}), `timeoutMs` (10 min)
 * @example
 * ```ts
 * const s = ganSetup('styleclip-step');
 * if ('reason' in s) console.warn(s.reason);
 * ```
 */
export function ganSetup(name: GanCase, opts: { cache?: string; spec?: GanSpec; timeoutMs?: number } = {}): { manifest: Record<string, unknown> } | { reason: string } {
  const spec = opts.spec ?? ganSpec(name);
  const r = runPy(['setup', '--cache', opts.cache ?? GAN_CACHE, '--spec', JSON.stringify(spec)], {}, opts.timeoutMs ?? 10 * 60_000);
  return 'error' in r ? { reason: `setup: ${r.error}` } : { manifest: r.json };
}

/**
 * Times PyTorch on a case's cache (`--warmup` untimed, `--reps` timed calls) with `threads` threads
 * (`torch.set_num_threads` and `OMP_NUM_THREADS`); `maxAbsDiff` is its output against setup's stored one.
 *
 * @example
 * ```ts
 * const t = ganTorch('stylegan2-1024', { reps: 3, warmup: 1, threads: 2 });
 * if ('ms' in t) console.log(t.ms, t.detail['torch']);
 * ```
 */
export function ganTorch(name: GanCase, opts: { reps: number; warmup: number; threads?: number; cache?: string; timeoutMs?: number }): BaselineTiming | { reason: string } {
  const threads = opts.threads ?? availableParallelism();
  const args = ['time', '--case', name, '--cache', opts.cache ?? GAN_CACHE, '--reps', String(opts.reps), '--warmup', String(opts.warmup), '--threads', String(threads)];
  const r = runPy(args, { OMP_NUM_THREADS: String(threads) }, opts.timeoutMs ?? 30 * 60_000);
  if ('error' in r) return { reason: `PyTorch: ${r.error}` };
  const j = r.json;
  return {
    ms: j['medianMs'] as number, minMs: j['minMs'] as number, reps: j['reps'] as number, threads: j['threads'] as number,
    maxAbsDiff: j['maxAbsDiff'] as number, loadAvg: j['loadAvg'] as number, detail: { torch: j['torch'], python: r.python, modconv: j['modconv'], mkldnn: j['mkldnn'], blas: j['blas'] },
  };
}

/**
 * The `torch` baseline of a case for `pnpm bench`: PyTorch timed on the cache `ganSetup` made (or the reason it was
 * not), with our backend's thread count on CPU backends (`info`), else every core.
 *
 * @param name   the case
 * @param policy warm-up and timed runs (the same as ours)
 * @param setup  what {@link ganSetup} returned
 * @param info   our backend, when its child ran
 * @example
 * ```ts
 * baselines.torch = ganTorchBaseline('stylegan2-1024', policy, ganSetup('stylegan2-1024'), ours.info);
 * ```
 */
export function ganTorchBaseline(name: GanCase, policy: RepPolicy, setup: ReturnType<typeof ganSetup>, info?: BackendInfo): Measurement {
  if ('reason' in setup) return { ms: null, note: `PyTorch: ${setup.reason}` };
  const threads = info && (info.name === 'native' || info.name === 'wasm' || info.name === 'cpu') ? info.threads : availableParallelism();
  const t = ganTorch(name, { ...policy, threads });
  if ('reason' in t) return { ms: null, note: t.reason };
  const how = `PyTorch ${String(t.detail['torch'])}, ${t.threads} threads (${String(t.detail['python'])}), ${String(t.detail['modconv'])} modulated conv, on the weights and inputs ours loads`;
  return { ms: t.ms, minMs: t.minMs, reps: t.reps, warmup: policy.warmup, loadAvg: t.loadAvg, note: `${how}; its output vs setup's ${t.maxAbsDiff?.toExponential(1)}` };
}

/** A case's cached inputs and PyTorch outputs, in our layout (images NHWC). */
export interface GanIo {
  /** `[1, num_ws, w_dim]`. */
  ws: RawTensor;
  /** PyTorch's output image `[1, R, R, C]`. */
  image: RawTensor;
  /** styleclip-step: token ids, and the step's gradient `[1, num_ws, w_dim]`. */
  tokens?: number[][];
  grad?: RawTensor;
}

/**
 * Reads a case's cached inputs and PyTorch outputs.
 *
 * @example
 * ```ts
 * const io = await readGanIo(GAN_CACHE, 'stylegan2-1024'); io.image.shape; // [1, 1024, 1024, 3]
 * ```
 */
export async function readGanIo(dir: string, name: GanCase): Promise<GanIo> {
  const file = ganCachePaths(dir, name).io;
  const t = await readSafetensors(file);
  const get = (k: string): RawTensor => {
    const x = t.get(k);
    if (!x) throw new Error(`stylegan2 cache: ${file} has no ${k}`);
    return x;
  };
  const img = get('image');
  const [n, c, h, w] = img.shape as [number, number, number, number];
  const io: GanIo = { ws: get('ws'), image: { dtype: img.dtype, shape: [n, h, w, c], data: nchwToNhwc(img.data as Float32Array, img.shape) } };
  const tokens = t.get('tokens');
  if (tokens) {
    const [rows, len] = tokens.shape as [number, number];
    io.tokens = Array.from({ length: rows }, (_, r) => Array.from((tokens.data as Int32Array).subarray(r * len, (r + 1) * len)));
  }
  const grad = t.get('grad');
  if (grad) io.grad = grad;
  return io;
}

/**
 * Builds a case on the active backend from the cache (our loaders, PyTorch's weights and inputs), with PyTorch's
 * output as the reference; null when there is no cache, or one made from another spec (a stale cache that setup
 * could not remake). For styleclip-step the note also gets the max abs difference of the first step's gradient
 * against PyTorch's, once the first (warm-up) call has run.
 *
 * @param name the case
 * @param what the case's description, put first in the note
 * @param dir  the cache folder (default {@link GAN_CACHE})
 * @param spec the spec the cache must have been made from (default {@link ganSpec}'s)
 * @example
 * ```ts
 * const p = (await prepareGanCase('stylegan2-1024', 'FFHQ 1024 synthesis')) ?? seededFallback();
 * ```
 */
export async function prepareGanCase(name: GanCase, what: string, dir: string = GAN_CACHE, spec: GanSpec = ganSpec(name)): Promise<Prepared | null> {
  const paths = ganCachePaths(dir, name);
  const manifest = readManifest(paths);
  if (!manifest || canonical(manifest.spec) !== canonical(spec)) return null;
  const config = JSON.parse(readFileSync(join(paths.generatorDir, 'config.json'), 'utf8')) as StyleGan2Config;
  const G = await loadNvlabsGenerator(join(paths.generatorDir, 'generator.safetensors'), { config });
  const io = await readGanIo(dir, name);
  const ws = tf.tensor3d(io.ws.data as Float32Array, io.ws.shape as [number, number, number]);
  const from = `${what}; random weights and inputs of ${paths.dir} (PyTorch's init, seed ${manifest.spec.seed})`;
  const dispose = (): void => { ws.dispose(); G.dispose(); };
  if (name === 'stylegan2-1024') {
    return { sync: true, run: () => G.synthesis(ws, { noiseMode: 'const' }), reference: io.image, note: from, dispose };
  }
  const clip = await loadClipModel(paths.clipDir);
  let note = from;
  const run = styleclipStep(G, clip, io.tokens ?? STYLECLIP_TOKENS, ws, (g) => {
    note = `${from}; first step's gradient: max abs diff vs PyTorch ${(io.grad ? maxAbsDiff(g, io.grad) : NaN).toExponential(1)}`;
  });
  // timeCase reads the note after the runs: the getter then gives the gradient comparison of the warm-up call.
  return { sync: false, run, reference: io.image, get note() { return note; }, dispose: () => { dispose(); clip.dispose(); } };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (k: string): string | undefined => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const name = (arg('case') ?? 'stylegan2-1024') as GanCase;
  const setup = ganSetup(name);
  const torch = 'reason' in setup ? setup : ganTorch(name, { reps: Number(arg('reps') ?? 1), warmup: Number(arg('warmup') ?? 1) });
  console.log(JSON.stringify({ setup, torch }, null, 2));
}
