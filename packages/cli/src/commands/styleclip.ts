/**
 * `semedit styleclip optimize|mapper-train|mapper-apply|global ...`: StyleCLIP's three methods on a StyleGAN2
 * generator (NVLabs `.pkl` / safetensors + config, or rosinality `.pt`) and an OpenAI CLIP checkpoint, with
 * progress bars; writes before/after PNGs (and for `global` a strip over α) and a JSON report with `--json`.
 * @module
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createGenerator, OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { loadClipTokenizer, loadOpenAiClip, loadOpenAiClipTokenizer, type ClipModel } from '@semedit/core/clip';
import { writeImageTensor } from '@semedit/core/image';
import { readCheckpoint, writeSafetensors } from '@semedit/core/io';
import {
  applyGlobalDirection, channelDirections, channelFeatures, channelRelevance, ClipTextLoss, globalBoundary, loadLatentMapper,
  manipulatedLayers, optimizeLatent, styleSpaceGenerator, styleStatistics, templatePrompts, textDirection, trainLatentMapper,
  wPlusSynthesizer, MAPPER_OPTIMIZERS, type MapperOptimizerName, type StyleGan2Like,
} from '@semedit/edit';
import { numberOption, optString, parseCommandArgs, requiredNumber, type NumberRule, type OptionSpec } from '../args.js';
import { progressBar } from '../progress.js';
import type { Command } from './command.js';

/** A loaded generator as the CLI uses it. */
export type CliGenerator = StyleGan2Like & { readonly config: { zDim: number }; dispose(): void };

/**
 * How the command loads generators (injectable for tests; the default uses `@semedit/core/stylegan2`).
 *
 * @example
 * ```ts
 * const deps: StyleclipDeps = { loadGenerator: async (path) => myGenerator };
 * ```
 */
export interface StyleclipDeps {
  loadGenerator(path: string, opts: { config?: string; format?: string }): Promise<CliGenerator>;
}

/**
 * The JSON report of `semedit styleclip ... --json` (a contract).
 *
 * @example
 * ```ts
 * const r: StyleclipReport = JSON.parse(stdout);
 * if (r.method === 'mapper-train') console.log(r.settings?.optimizer); // 'ranger' unless --optim adam
 * ```
 */
export interface StyleclipReport {
  backend: string;
  method: 'optimize' | 'mapper-train' | 'mapper-apply' | 'global';
  images: string[];
  files: string[];
  losses?: number[];
  numChannels?: number;
  /** `mapper-train`: the training settings (`optimizer` is `ranger` or `adam`, `--optim`). */
  settings?: MapperTrainSettings;
  ms: number;
}

/**
 * The settings `semedit styleclip mapper-train` reports (part of {@link StyleclipReport}).
 *
 * @example
 * ```ts
 * const s: MapperTrainSettings = { optimizer: 'ranger', steps: 50000, batchSize: 2, lr: 0.5, mapperType: 'LevelsMapper', resumed: false };
 * ```
 */
export interface MapperTrainSettings {
  optimizer: MapperOptimizerName;
  steps: number;
  batchSize: number;
  lr: number;
  mapperType: 'LevelsMapper' | 'SingleMapper';
  resumed: boolean;
}

/** `--optim`: one of the mapper optimizers. */
function optimName(values: Record<string, unknown>): MapperOptimizerName {
  const v = values['optim'];
  if (!MAPPER_OPTIMIZERS.includes(v as MapperOptimizerName)) throw new OptionError('optim', `must be ${MAPPER_OPTIMIZERS.join(' or ')}, got "${String(v)}"`);
  return v as MapperOptimizerName;
}

async function defaultLoadGenerator(path: string, opts: { config?: string; format?: string }): Promise<CliGenerator> {
  const specifier = '@semedit/core/stylegan2';
  const sg = (await import(specifier)) as {
    loadNvlabsGenerator(p: string, o: { kwargs?: unknown }): Promise<CliGenerator>;
    loadRosinalityGenerator(p: string): Promise<CliGenerator>;
  };
  const format = opts.format ?? (path.endsWith('.pkl') || opts.config ? 'nvlabs' : 'rosinality');
  if (format === 'rosinality') return sg.loadRosinalityGenerator(path);
  if (format !== 'nvlabs') throw new OptionError('generator-format', `must be nvlabs or rosinality, got "${format}"`);
  const json = opts.config ? (JSON.parse(await readFile(opts.config, 'utf8')) as Record<string, unknown>) : undefined;
  return sg.loadNvlabsGenerator(path, json ? { kwargs: json['kwargs'] ?? json } : {});
}

function str(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new OptionError(name, 'is required');
  return v;
}

/** Token-id rows from `--*-ids "1,2,3;4,5"`, zero-padded to CLIP's context length. */
function idRows(spec: string, clip: ClipModel, name: string): number[][] {
  const len = clip.config.text.maxPositionEmbeddings;
  return spec.split(';').map((row) => {
    const ids = row.split(',').map((s) => Number(s.trim()));
    if (ids.some((x) => !Number.isInteger(x) || x < 0) || ids.length > len) throw new OptionError(name, `"${row}" is not a list of at most ${len} token ids`);
    return [...ids, ...Array<number>(len - ids.length).fill(0)];
  });
}

/** Token rows for a text (with the prompt templates when asked), or for explicit ids. */
async function textRows(values: Record<string, unknown>, clip: ClipModel, which: string, templates: boolean): Promise<number[][]> {
  const ids = values[`${which}-ids`];
  if (typeof ids === 'string') return idRows(ids, clip, `${which}-ids`);
  const text = str(values, which);
  const tokPath = str(values, 'tokenizer');
  const tok = (await stat(tokPath)).isDirectory() ? await loadClipTokenizer(tokPath) : await loadOpenAiClipTokenizer(tokPath);
  return tok.encodeBatch(templates ? templatePrompts(text) : [text]).map((e) => e.ids);
}

const COMMON: OptionSpec = {
  generator: { type: 'string' }, 'generator-config': { type: 'string' }, 'generator-format': { type: 'string' },
  clip: { type: 'string' }, tokenizer: { type: 'string' }, seed: { type: 'string', default: '0' },
  out: { type: 'string', default: 'out/styleclip' }, json: { type: 'boolean', default: false },
};

interface Ctx {
  values: Record<string, string | boolean | string[] | undefined>;
  G: CliGenerator;
  out: string;
  report: StyleclipReport;
}

/** `n` latents: `--latents FILE` (a safetensors/torch tensor `[N, num_ws, w_dim]`) or mapped random z. */
async function latentsFrom(ctx: Ctx, n: number, psi: number): Promise<tf.Tensor3D> {
  const file = ctx.values['latents'];
  if (typeof file === 'string') {
    const ck = await readCheckpoint(file);
    const first = [...ck.tensors.values()][0];
    if (!first || first.shape.length !== 3) throw new OptionError('latents', `${file} must hold one [N, num_ws, w_dim] tensor`);
    return tf.tensor3d(first.data as Float32Array, first.shape as [number, number, number]);
  }
  const z = tf.tensor2d(createGenerator(requiredNumber('seed', ctx.values['seed'], { int: true })).normal(n * ctx.G.config.zDim), [n, ctx.G.config.zDim]);
  const ws = tf.tidy(() => ctx.G.mapping(z, { truncationPsi: psi }));
  z.dispose();
  return ws;
}

async function writePng(ctx: Ctx, name: string, images: tf.Tensor4D, grid?: { cols: number; labels?: string[] }): Promise<void> {
  const files = await writeImageTensor(join(ctx.out, name), tf.tidy(() => tf.clipByValue(images, -1, 1)), {
    range: '-1-1', grid: grid ?? images.shape[0] > 1,
  });
  ctx.report.images.push(...files);
}

async function optimize(ctx: Ctx, clip: ClipModel): Promise<void> {
  const v = ctx.values;
  const init = await latentsFrom(ctx, requiredNumber('images', v['images'], { int: true }), requiredNumber('truncation', v['truncation']));
  const loss = new ClipTextLoss(clip, await textRows(v, clip, 'text', false));
  const synth = wPlusSynthesizer(ctx.G);
  const steps = requiredNumber('steps', v['steps'], { int: true });
  const bar = progressBar('optimizing', steps);
  const losses: number[] = [];
  try {
    const before = tf.tidy(() => synth(init));
    await writePng(ctx, 'before.png', before);
    before.dispose();
    const run = optimizeLatent(synth, loss, init, {
      steps, lr: requiredNumber('lr', v['lr']), l2Lambda: requiredNumber('l2-lambda', v['l2-lambda']), mode: str(v, 'mode') as 'edit' | 'free',
    });
    let r = await run.next();
    while (!r.done) (losses.push(r.value.loss), bar.tick(1, `loss ${r.value.loss.toFixed(4)}`), (r = await run.next()));
    bar.done();
    await writePng(ctx, 'after.png', r.value.image);
    const latentFile = join(ctx.out, 'latent.safetensors');
    await writeSafetensors(latentFile, { latent: { dtype: 'float32', shape: r.value.latent.shape, data: r.value.latent.dataSync() as Float32Array } });
    ctx.report.files.push(latentFile);
    ctx.report.losses = losses;
    tf.dispose([r.value.latent, r.value.image]);
  } finally {
    loss.dispose();
    init.dispose();
  }
}

async function mapperTrain(ctx: Ctx, clip: ClipModel): Promise<void> {
  const v = ctx.values;
  const optimizer = optimName(v);
  const mapperType = str(v, 'mapper-type');
  if (mapperType !== 'LevelsMapper' && mapperType !== 'SingleMapper') throw new OptionError('mapper-type', `must be LevelsMapper or SingleMapper, got "${mapperType}"`);
  const steps = requiredNumber('steps', v['steps'], { int: true });
  const batchSize = requiredNumber('batch-size', v['batch-size'], { int: true });
  const lr = requiredNumber('lr', v['lr']);
  const latents = await latentsFrom(ctx, requiredNumber('num-latents', v['num-latents'], { int: true }), requiredNumber('truncation', v['truncation']));
  const loss = new ClipTextLoss(clip, await textRows(v, clip, 'text', false));
  const checkpoint = typeof v['checkpoint'] === 'string' ? v['checkpoint'] : join(ctx.out, 'mapper.safetensors');
  const bar = progressBar('training mapper', steps);
  const losses: number[] = [];
  try {
    const run = trainLatentMapper(wPlusSynthesizer(ctx.G), loss, latents, {
      steps, batchSize, lr, optimizer, checkpointPath: checkpoint, checkpointEvery: requiredNumber('checkpoint-every', v['checkpoint-every'], { int: true }),
      mapperType, noCoarseMapper: v['no-coarse-mapper'] === true, noMediumMapper: v['no-medium-mapper'] === true, noFineMapper: v['no-fine-mapper'] === true,
      seed: requiredNumber('seed', v['seed'], { int: true }), description: optString(v['text']),
      resumeFrom: optString(v['resume']),
    });
    let r = await run.next();
    while (!r.done) (losses.push(r.value.loss), bar.tick(1, `loss ${r.value.loss.toFixed(4)}`), (r = await run.next()));
    bar.done();
    // A resumed run keeps its checkpoint's optimizer and mapper type: report what was used.
    const used = r.value.trainOpts;
    ctx.report.settings = {
      optimizer: used['optim_name'] === 'adam' ? 'adam' : 'ranger', steps, batchSize, lr,
      mapperType: r.value.options.mapper_type, resumed: typeof v['resume'] === 'string',
    };
    r.value.dispose();
    ctx.report.files.push(checkpoint);
    ctx.report.losses = losses;
  } finally {
    loss.dispose();
    latents.dispose();
  }
}

async function mapperApply(ctx: Ctx): Promise<void> {
  const v = ctx.values;
  const mapper = await loadLatentMapper(str(v, 'mapper'));
  const w = await latentsFrom(ctx, requiredNumber('images', v['images'], { int: true }), requiredNumber('truncation', v['truncation']));
  try {
    const synth = wPlusSynthesizer(ctx.G);
    const [before, after] = tf.tidy(() => [synth(w), synth(mapper.apply(w, requiredNumber('strength', v['strength'])))]);
    await writePng(ctx, 'before.png', before!);
    await writePng(ctx, 'after.png', after!);
    tf.dispose([before!, after!]);
  } finally {
    mapper.dispose();
    w.dispose();
  }
}

async function global(ctx: Ctx, clip: ClipModel): Promise<void> {
  const v = ctx.values;
  const gen = styleSpaceGenerator(ctx.G);
  const seed = requiredNumber('seed', v['seed'], { int: true });
  const draw = (n: number, s: number) => tf.tensor2d(createGenerator(s).normal(n * ctx.G.config.zDim), [n, ctx.G.config.zDim]);
  const psi = requiredNumber('truncation', v['truncation']);
  const zStats = draw(requiredNumber('num-stats', v['num-stats'], { int: true }), seed + 1);
  const stats = styleStatistics(gen, zStats, { truncationPsi: psi });
  zStats.dispose();
  const zImg = draw(requiredNumber('num-images', v['num-images'], { int: true }), seed + 2);
  const styles = tf.tidy(() => gen.stylesFromWPlus(gen.mapping(zImg, psi)));
  zImg.dispose();
  const manipulated = manipulatedLayers(gen.layers, requiredNumber('max-resolution', v['max-resolution'], { int: true }));
  const total = manipulated.reduce((n, i) => n + gen.layers[i]!.dim, 0);
  const bar = progressBar('channel relevance', total);
  let done = 0;
  const fs = await channelFeatures(gen, clip, styles, stats, manipulated, {
    alpha: requiredNumber('channel-alpha', v['channel-alpha']), cacheKey: `${str(v, 'generator')} ${str(v, 'clip')}`,
    cachePath: optString(v['cache']),
    onProgress: (d) => (bar.tick(d - done), (done = d)),
  });
  bar.done();
  styles.dispose();
  const fs3 = channelDirections(tf.tensor4d(fs.data, fs.shape));
  const dt = textDirection(clip, await textRows(v, clip, 'target', true), await textRows(v, clip, 'neutral', true));
  const relevance = channelRelevance(fs3, dt);
  tf.dispose([fs3, dt]);
  const b = globalBoundary(relevance, requiredNumber('beta', v['beta']), { layers: gen.layers, manipulated, codeStd: stats.std });
  const alphas = str(v, 'alphas').split(',').map((s) => Number(s));
  if (alphas.some((a) => !Number.isFinite(a))) throw new OptionError('alphas', `must be comma-separated numbers, got "${str(v, 'alphas')}"`);
  const zEdit = draw(requiredNumber('images', v['images'], { int: true }), seed);
  const s = tf.tidy(() => gen.stylesFromWPlus(gen.mapping(zEdit, psi)));
  // Strip: one row per image, one column per α.
  const strip = tf.tidy(() => {
    const cols = alphas.map((a) => gen.synthesizeStyles(applyGlobalDirection(s, b.boundary, a)));
    const [, h, w, c] = cols[0]!.shape;
    return tf.reshape(tf.stack(cols, 1), [-1, h, w, c]) as tf.Tensor4D;
  });
  const [before, after] = tf.tidy(() => [gen.synthesizeStyles(s), gen.synthesizeStyles(applyGlobalDirection(s, b.boundary, requiredNumber('alpha', v['alpha'])))]);
  await writePng(ctx, 'before.png', before!);
  await writePng(ctx, 'after.png', after!);
  await writePng(ctx, 'strip.png', strip, { cols: alphas.length, labels: Array.from({ length: strip.shape[0] }, (_, i) => `a=${alphas[i % alphas.length]}`) });
  tf.dispose([zEdit, s, strip, before!, after!]);
  ctx.report.numChannels = b.numChannels;
}

const SUB: Record<StyleclipReport['method'], OptionSpec> = {
  optimize: {
    text: { type: 'string' }, 'text-ids': { type: 'string' }, latents: { type: 'string' }, images: { type: 'string', default: '1' },
    truncation: { type: 'string', default: '0.7' }, steps: { type: 'string', default: '300' }, lr: { type: 'string', default: '0.1' },
    'l2-lambda': { type: 'string', default: '0.008' }, mode: { type: 'string', default: 'edit' },
  },
  'mapper-train': {
    text: { type: 'string' }, 'text-ids': { type: 'string' }, latents: { type: 'string' }, 'num-latents': { type: 'string', default: '64' },
    truncation: { type: 'string', default: '0.7' }, steps: { type: 'string', default: '50000' }, 'batch-size': { type: 'string', default: '2' },
    lr: { type: 'string', default: '0.5' }, checkpoint: { type: 'string' }, 'checkpoint-every': { type: 'string', default: '2000' },
    resume: { type: 'string' }, optim: { type: 'string', default: 'ranger' }, 'mapper-type': { type: 'string', default: 'LevelsMapper' }, 'no-coarse-mapper': { type: 'boolean' }, 'no-medium-mapper': { type: 'boolean' }, 'no-fine-mapper': { type: 'boolean' },
  },
  'mapper-apply': {
    mapper: { type: 'string' }, latents: { type: 'string' }, images: { type: 'string', default: '1' }, truncation: { type: 'string', default: '0.7' },
    strength: { type: 'string', default: '0.1' },
  },
  global: {
    target: { type: 'string' }, 'target-ids': { type: 'string' }, neutral: { type: 'string' }, 'neutral-ids': { type: 'string' },
    cache: { type: 'string' }, 'num-stats': { type: 'string', default: '100000' }, 'num-images': { type: 'string', default: '100' },
    'channel-alpha': { type: 'string', default: '5' }, 'max-resolution': { type: 'string', default: '128' }, truncation: { type: 'string', default: '0.7' },
    beta: { type: 'string', default: '0.15' }, alpha: { type: 'string', default: '4.1' }, alphas: { type: 'string', default: '-8,-4,0,4,8' },
    images: { type: 'string', default: '1' },
  },
};

/** The numeric options of every method, checked (kind and range) before anything is loaded. */
const NUMBERS: Record<string, NumberRule> = {
  images: { int: true, min: 1 }, truncation: {}, steps: { int: true, min: 1 }, lr: { min: 0 }, 'l2-lambda': { min: 0 },
  'num-latents': { int: true, min: 1 }, 'batch-size': { int: true, min: 1 }, 'checkpoint-every': { int: true, min: 1 }, strength: {},
  'num-stats': { int: true, min: 1 }, 'num-images': { int: true, min: 1 }, 'channel-alpha': {}, 'max-resolution': { int: true, min: 4 },
  beta: { min: 0 }, alpha: {}, seed: { int: true },
};

/** Every option a method can check without a model: numbers, the alpha list, the optimizer and mode names. */
function checkOptions(m: StyleclipReport['method'], values: Record<string, unknown>): void {
  for (const [name, rule] of Object.entries(NUMBERS)) if (Object.hasOwn({ ...COMMON, ...SUB[m] }, name)) numberOption(name, values[name], rule);
  if (m === 'global') {
    const list = String(values['alphas']).split(',');
    list.forEach((a) => numberOption('alphas', a.trim()));
  }
  if (m === 'mapper-train') optimName(values);
  if (m === 'optimize' && !['edit', 'free'].includes(String(values['mode']))) throw new OptionError('mode', `must be edit or free, got "${String(values['mode'])}"`);
}

/**
 * Builds the `styleclip` command with injectable generator loading.
 *
 * @param deps `loadGenerator`
 * @example
 * ```ts
 * const cmd = createStyleclipCommand({ loadGenerator: (p) => loadNvlabsGenerator(p, { kwargs }) });
 * await cmd.run(['global', '--generator', 'g.pkl', '--clip', 'ViT-B-32.pt', ...]);
 * ```
 */
export function createStyleclipCommand(deps: StyleclipDeps = { loadGenerator: defaultLoadGenerator }): Command {
  return {
    usage: 'styleclip <optimize|mapper-train|mapper-apply|global> --generator G [--generator-config JSON] --clip CLIP [--tokenizer BPE] [--text T | --text-ids IDS] [--out DIR] [--json] ...',
    summary: 'StyleCLIP text-driven StyleGAN2 editing: latent optimization, latent mapper (train/apply), global directions',
    async run(argv) {
      const [method, ...rest] = argv;
      if (!method || !Object.hasOwn(SUB, method)) throw new OptionError('styleclip', `expects a method: ${Object.keys(SUB).join(', ')}`);
      const m = method as StyleclipReport['method'];
      const { values, positionals } = parseCommandArgs(`styleclip ${m}`, rest, { ...COMMON, ...SUB[m] });
      if (positionals.length > 0) throw new OptionError(`styleclip ${m}`, `unexpected argument "${positionals[0]}"`);
      checkOptions(m, values);
      const start = Date.now();
      const backend = await initBackend();
      const config = values['generator-config'];
      const format = values['generator-format'];
      const G = await deps.loadGenerator(str(values, 'generator'), {
        config: optString(config), format: optString(format),
      });
      const out = resolve(String(values['out']));
      await mkdir(out, { recursive: true });
      const ctx: Ctx = { values, G, out, report: { backend: backend.name, method: m, images: [], files: [], ms: 0 } };
      const clip = m === 'mapper-apply' ? undefined : await loadOpenAiClip(str(values, 'clip'));
      try {
        if (m === 'optimize') await optimize(ctx, clip!);
        else if (m === 'mapper-train') await mapperTrain(ctx, clip!);
        else if (m === 'mapper-apply') await mapperApply(ctx);
        else await global(ctx, clip!);
      } finally {
        G.dispose();
        clip?.dispose();
      }
      ctx.report.ms = Date.now() - start;
      process.stdout.write(values['json'] ? `${JSON.stringify(ctx.report, null, 2)}\n` : `wrote ${[...ctx.report.images, ...ctx.report.files].join(', ')} (${ctx.report.ms} ms on ${backend.name})\n`);
      return 0;
    },
  };
}

/** `semedit styleclip ...` with the default generator loaders. */
export const styleclipCommand: Command = createStyleclipCommand();
