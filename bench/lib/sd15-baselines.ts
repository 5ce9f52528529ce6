/**
 * The SD 1.5 baselines the TypeScript bench compares our tfjs backends against, for the UNet step (`unet`) and the
 * VAE decode (`vae`): PyTorch (Debian's python3-torch, `bench/baselines/torch_unet.py` / `torch_vae.py`) and
 * onnxruntime-node (the same model exported to ONNX), on the same random weights and inputs, each timed in its own
 * child process.
 *
 * The weights and inputs live in a cache folder made once by `bench/baselines/sd15.py setup` (default
 * `bench/.cache/sd15`, or `$SEMEDIT_SD15_CACHE`); {@link sd15CachePaths} names its files so the bench can load the
 * same weights with `loadUNet(paths.modelDir)` / `loadVae(paths.modelDir)` and compare its output with
 * {@link readSd15Io}'s `noisePred` / {@link readSd15VaeIo}'s `image`.
 *
 * ```ts
 * const b = await sd15Baselines({ model: 'unet', reps: 2, warmup: 1 });
 * console.log(b.torch?.ms, b.onnxruntime?.ms, b.onnxruntime?.maxAbsDiff, b.reasons);
 * ```
 *
 * Run alone it prints that result as JSON:
 * `pnpm exec tsx --conditions=@repo/source bench/lib/sd15-baselines.ts --model=vae --reps=2 --warmup=1`.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nchwToNhwc } from '@semedit/core/fixtures';
import { readSafetensors, type RawTensor } from '@semedit/core/io';
import { findPython } from './python.js';

const BENCH = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO = resolve(BENCH, '..');
const SD15_PY = join(BENCH, 'baselines', 'sd15.py');
const ORT_TS = join(BENCH, 'lib', 'ort.ts');

/** The default cache folder: `$SEMEDIT_SD15_CACHE`, else `bench/.cache/sd15` (gitignored). */
export const SD15_CACHE: string = process.env['SEMEDIT_SD15_CACHE'] ? resolve(process.env['SEMEDIT_SD15_CACHE']) : join(BENCH, '.cache', 'sd15');

/** The models of the cache: the UNet step and the VAE decode. */
export type Sd15Model = 'unet' | 'vae';

/** The files of one model in an SD 1.5 baseline cache (see `bench/baselines/sd15.py`). */
export interface Sd15CachePaths {
  dir: string;
  model: Sd15Model;
  /** diffusers folder (`unet/`, `vae/`): `config.json` + `diffusion_pytorch_model.bin` (torch.save zip). */
  modelDir: string;
  config: string;
  weights: string;
  /**
   * safetensors, NCHW. unet: `sample` [2,4,64,64], `timestep` [2], `encoder_hidden_states` [2,77,768], `noise_pred`;
   * vae: `latents` [1,4,64,64], `image` [1,3,512,512] (decode, not clamped).
   */
  io: string;
  /** ONNX export, fixed shapes (the UNet's weights as external data beside it). */
  onnx: string;
  /** Written last by setup: seed, config, torch version, parameter count, export status. */
  manifest: string;
}

/**
 * The paths of one model in a cache folder (nothing is created).
 *
 * @example
 * ```ts
 * const unet = await loadUNet(sd15CachePaths().modelDir);
 * const vae = await loadVae(sd15CachePaths(SD15_CACHE, 'vae').modelDir);
 * ```
 */
export function sd15CachePaths(dir: string = SD15_CACHE, model: Sd15Model = 'unet'): Sd15CachePaths {
  const modelDir = join(dir, model);
  return {
    dir, model, modelDir, config: join(modelDir, 'config.json'), weights: join(modelDir, 'diffusion_pytorch_model.bin'),
    io: join(dir, `${model}-io.safetensors`), onnx: join(dir, 'onnx', `${model}.onnx`), manifest: join(dir, `${model}-manifest.json`),
  };
}

/** Inputs and PyTorch output of the cached step, in our layout (NHWC). */
export interface Sd15Io {
  /** Latents `[2, 64, 64, 4]`. */
  sample: RawTensor;
  /** One timestep per batch row. */
  timestep: number[];
  /** Text states `[2, 77, 768]`. */
  encoderHiddenStates: RawTensor;
  /** PyTorch's noise prediction `[2, 64, 64, 4]`. */
  noisePred: RawTensor;
}

/**
 * Reads the cached inputs and PyTorch output, latents and output re-laid out from NCHW to NHWC.
 *
 * @example
 * ```ts
 * const io = await readSd15Io();
 * const eps = unet.forward(tf.tensor4d(io.sample.data, io.sample.shape as [number, number, number, number]), io.timestep, ehs);
 * maxAbsDiff(await eps.data(), io.noisePred);
 * ```
 */
export async function readSd15Io(dir: string = SD15_CACHE): Promise<Sd15Io> {
  const get = await ioReader(sd15CachePaths(dir, 'unet').io);
  return {
    sample: nhwc(get('sample')), timestep: Array.from(get('timestep').data as Float32Array),
    encoderHiddenStates: get('encoder_hidden_states'), noisePred: nhwc(get('noise_pred')),
  };
}

/** Inputs and PyTorch output of the cached VAE decode, in our layout (NHWC). */
export interface Sd15VaeIo {
  /** Latents `[1, 64, 64, 4]` (decoded as they are: no 1/scaling_factor). */
  latents: RawTensor;
  /** PyTorch's decoded image `[1, 512, 512, 3]`, not clamped. */
  image: RawTensor;
}

/**
 * Reads the cached VAE latents and PyTorch image, re-laid out from NCHW to NHWC.
 *
 * @example
 * ```ts
 * const { latents, image } = await readSd15VaeIo();
 * ```
 */
export async function readSd15VaeIo(dir: string = SD15_CACHE): Promise<Sd15VaeIo> {
  const get = await ioReader(sd15CachePaths(dir, 'vae').io);
  return { latents: nhwc(get('latents')), image: nhwc(get('image')) };
}

async function ioReader(file: string): Promise<(name: string) => RawTensor> {
  const t = await readSafetensors(file);
  return (name) => {
    const x = t.get(name);
    if (!x) throw new Error(`sd15: ${file} has no ${name}`);
    return x;
  };
}

function nhwc(x: RawTensor): RawTensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return { dtype: x.dtype, shape: [n, h, w, c], data: nchwToNhwc(x.data as Float32Array, x.shape) };
}

/** One baseline's timing of the step. */
export interface BaselineTiming {
  /** Median over `reps` timed steps, ms. */
  ms: number;
  minMs: number;
  reps: number;
  threads: number;
  /** Largest |output - stored PyTorch output| (PyTorch: the re-run against setup's run). */
  maxAbsDiff?: number;
  /** 1-minute load average when the timing finished. */
  loadAvg: number;
  /** Versions, BLAS libraries, session load time. */
  detail: Record<string, unknown>;
}

/** Result of {@link sd15Baselines}: a null timing comes with its reason in `reasons`. */
export interface Sd15Baselines {
  torch: BaselineTiming | null;
  onnxruntime: BaselineTiming | null;
  reasons: string[];
  cache: Sd15CachePaths;
  /** The cache manifest (null when there is no cache). */
  manifest: Record<string, unknown> | null;
}

/** Options of {@link sd15Baselines}. */
export interface Sd15BaselineOptions {
  /** Which model to time (default `unet`). */
  model?: Sd15Model;
  reps: number;
  warmup: number;
  /** Cache folder (default {@link SD15_CACHE}). */
  cache?: string;
  /** Set false to leave a baseline out. */
  torch?: boolean;
  onnxruntime?: boolean;
  /** A diffusers `config.json` to use instead of SD 1.5's (tests use a tiny one). */
  config?: string;
  /** Per child process, ms (default 30 min: the first setup writes 3.4 GB twice and exports the graph). */
  timeoutMs?: number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeout: number): { out: string } | { error: string } {
  const r = spawnSync(cmd, args, { cwd: REPO, encoding: 'utf8', env: { ...process.env, ...env }, timeout, maxBuffer: 1 << 26 });
  if (r.status === 0) return { out: r.stdout };
  const why = r.error ? r.error.message : `exit ${String(r.status ?? r.signal)}`;
  return { error: `${cmd} ${args.slice(0, 2).join(' ')}: ${why}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
}

function lastJson(out: string, prefix = ''): Record<string, unknown> {
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith(prefix || '{')) ?? '{}';
  return JSON.parse(line.slice(prefix.length)) as Record<string, unknown>;
}

function readManifest(p: Sd15CachePaths): Record<string, unknown> | null {
  return existsSync(p.manifest) ? (JSON.parse(readFileSync(p.manifest, 'utf8')) as Record<string, unknown>) : null;
}

/**
 * Makes (or reuses) the model's cache, then times it with PyTorch and with onnxruntime-node, each in a child process
 * using every core (`OMP_NUM_THREADS`, `intraOpNumThreads`). Never throws for a missing runtime or a failed child:
 * that baseline is null and `reasons` says why.
 *
 * @example
 * ```ts
 * const { torch, onnxruntime, reasons } = await sd15Baselines({ reps: 2, warmup: 1 });
 * ```
 */
export async function sd15Baselines(opts: Sd15BaselineOptions): Promise<Sd15Baselines> {
  const model = opts.model ?? 'unet';
  const cache = sd15CachePaths(opts.cache ?? SD15_CACHE, model);
  const timeout = opts.timeoutMs ?? 30 * 60_000;
  const cores = availableParallelism();
  const reasons: string[] = [];
  const py = findPython();
  const withOrt = opts.onnxruntime !== false;
  if ('reason' in py) {
    reasons.push(`PyTorch: ${py.reason}`);
  } else {
    const args = [SD15_PY, 'setup', '--model', model, '--cache', cache.dir, ...(withOrt ? [] : ['--no-onnx']), ...(opts.config ? ['--config', opts.config] : [])];
    const r = run(py.python, args, {}, timeout);
    if ('error' in r) reasons.push(`setup: ${r.error}`);
  }
  const manifest = readManifest(cache);
  let torch: BaselineTiming | null = null;
  if (opts.torch === false) reasons.push('PyTorch: disabled');
  else if ('python' in py && manifest) {
    const r = run(py.python, [SD15_PY, 'time', '--model', model, '--cache', cache.dir, '--reps', String(opts.reps), '--warmup', String(opts.warmup)],
      { OMP_NUM_THREADS: String(cores) }, timeout);
    if ('error' in r) reasons.push(`PyTorch: ${r.error}`);
    else {
      const j = lastJson(r.out);
      torch = {
        ms: j['medianMs'] as number, minMs: j['minMs'] as number, reps: j['reps'] as number, threads: j['threads'] as number,
        maxAbsDiff: j['maxAbsDiff'] as number, loadAvg: j['loadAvg'] as number,
        detail: { torch: j['torch'], python: py.python, mkldnn: j['mkldnn'], blas: j['blas'] },
      };
    }
  }
  let onnxruntime: BaselineTiming | null = null;
  if (!withOrt) reasons.push('onnxruntime: disabled');
  else if (!manifest?.['onnx'] || !existsSync(cache.onnx)) {
    reasons.push(`onnxruntime: no ONNX export in ${cache.dir} (${String(manifest?.['onnxError'] ?? 'run with PyTorch installed to make it')})`);
  } else {
    try {
      createRequire(import.meta.url).resolve('onnxruntime-node');
      const r = run(process.execPath, ['--import', 'tsx', '--conditions=@repo/source', ORT_TS, `--model=${cache.onnx}`, `--io=${cache.io}`,
        `--reps=${opts.reps}`, `--warmup=${opts.warmup}`, `--threads=${cores}`], {}, timeout);
      if ('error' in r) reasons.push(`onnxruntime: ${r.error}`);
      else {
        const j = lastJson(r.out, '@@RESULT ');
        onnxruntime = {
          ms: j['medianMs'] as number, minMs: j['minMs'] as number, reps: j['reps'] as number, threads: j['threads'] as number,
          ...(typeof j['maxAbsDiff'] === 'number' ? { maxAbsDiff: j['maxAbsDiff'] } : {}), loadAvg: j['loadAvg'] as number,
          detail: { onnxruntime: j['version'], loadMs: j['loadMs'], opset: (manifest['onnx'] as { opset?: number }).opset },
        };
      }
    } catch (e) {
      reasons.push(`onnxruntime: onnxruntime-node is not installed (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return { torch, onnxruntime, reasons, cache, manifest };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const model = (arg('model') ?? 'unet') as Sd15Model;
  const r = await sd15Baselines({ model, reps: Number(arg('reps') ?? 2), warmup: Number(arg('warmup') ?? 1), torch: arg('torch') !== '0', onnxruntime: arg('ort') !== '0' });
  console.log(JSON.stringify({ ...r, manifest: r.manifest ? { ...r.manifest, config: undefined } : null }, null, 2));
}
