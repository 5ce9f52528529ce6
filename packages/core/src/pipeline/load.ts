/**
 * Loading a whole Stable Diffusion pipeline: a diffusers folder (`model_index.json`, `unet/`, `vae/`,
 * `text_encoder/`, `tokenizer/`, `scheduler/`; safetensors or `.bin`; fp16 variants) or a single-file checkpoint in
 * the original LDM layout (`.safetensors` / `.ckpt`) with the configs of a diffusers folder.
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildClipTextParams } from '../clip/params.js';
import { resolveClipTextConfig, type CLIPTextConfig } from '../clip/config.js';
import { loadClipTextModel } from '../clip/load.js';
import { ClipTextModel } from '../clip/text-model.js';
import { loadClipTokenizer } from '../tokenizer/tokenizer-load.js';
import { CheckpointFormatError, OptionError } from '../errors.js';
import { createScheduler, parseSchedulerConfigJson, resolveSchedulerName, schedulerConfigForName, type SchedulerConfig } from '../schedulers/index.js';
import { loadSingleFile } from './single-file.js';
import { loadUNet } from '../unet/load.js';
import type { UNet2DConditionConfig } from '../unet/config.js';
import type { AutoencoderKLConfig } from '../vae/config.js';
import { loadVae } from '../vae/vae.js';
import { assertFitsBackend, weightBytes } from './memory.js';
import { modelFolderFiles, WEIGHTS_NAMES } from '../io/model-folder.js';
import type { StableDiffusion } from '../types.js';

/** A loaded pipeline; `dispose()` frees every model. */
export interface LoadedStableDiffusion extends StableDiffusion {
  dispose(): void;
}

/** Options of {@link loadStableDiffusion}. */
export interface LoadStableDiffusionOptions {
  /** Weights variant of a diffusers folder, e.g. `fp16` (widened to float32 at load). */
  variant?: string;
  /** For a single-file checkpoint: a diffusers folder whose configs, tokenizer and scheduler to use. */
  configDir?: string;
  /** Overrides the folder's `scheduler/scheduler_config.json`. */
  scheduler?: SchedulerConfig | undefined;
  /**
   * Another sampler on the folder's training schedule: a short name (`euler-a`, `dpm++2m-karras`, `heun`, ...) or a
   * diffusers class name, applied to the folder's (or `scheduler`'s) config as `Cls.from_config(cfg)` does.
   */
  sampler?: string | undefined;
}

function readJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new CheckpointFormatError('missing file', { file: path });
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointFormatError(`cannot parse JSON: ${(e as Error).message}`, { file: path });
  }
}

function schedulerFrom(dir: string, opts: LoadStableDiffusionOptions) {
  const file = join(dir, 'scheduler', 'scheduler_config.json');
  const base = opts.scheduler ?? parseSchedulerConfigJson(readFileSync(file, 'utf8'), file) as SchedulerConfig;
  const config = opts.sampler === undefined ? base : schedulerConfigForName(opts.sampler, base);
  return createScheduler(config, opts.scheduler ? {} : { file });
}

const PIPELINES = new Set(['StableDiffusionPipeline', 'SemanticStableDiffusionPipeline', 'StableDiffusionPipelineSafe']);

/**
 * Loads a Stable Diffusion pipeline from a diffusers folder or a single-file LDM checkpoint. The float32 size of
 * the weights is checked against the active backend first ({@link ModelTooLargeError}).
 *
 * @param path a diffusers pipeline folder, or a `.safetensors` / `.ckpt` single file (then `configDir` is needed)
 * @param opts `variant`, `configDir`, `scheduler`, `sampler`
 * @example
 * ```ts
 * const sd = await loadStableDiffusion('stable-diffusion-v1-5');
 * const sd2 = await loadStableDiffusion('v1-5-pruned-emaonly.safetensors', { configDir: 'stable-diffusion-v1-5' });
 * ```
 */
export async function loadStableDiffusion(path: string, opts: LoadStableDiffusionOptions = {}): Promise<LoadedStableDiffusion> {
  if (opts.sampler !== undefined) resolveSchedulerName(opts.sampler); // an unknown name fails before any loading
  if (!existsSync(path)) throw new CheckpointFormatError('no such file or folder', { file: path });
  const isFolder = statSync(path).isDirectory();
  if (opts.configDir !== undefined) {
    if (!existsSync(opts.configDir) || !statSync(opts.configDir).isDirectory()) throw new OptionError('configDir', `"${opts.configDir}" is not a folder`);
    if (isFolder) throw new OptionError('configDir', `applies to a single-file checkpoint; the diffusers folder "${path}" has its own configs`);
  }
  return isFolder ? loadFolder(path, opts) : loadFile(path, opts);
}

async function loadFolder(dir: string, opts: LoadStableDiffusionOptions): Promise<LoadedStableDiffusion> {
  const indexFile = join(dir, 'model_index.json');
  const index = readJson(indexFile);
  const cls = index['_class_name'];
  if (typeof cls !== 'string' || !PIPELINES.has(cls)) {
    throw new CheckpointFormatError(`pipeline class ${JSON.stringify(cls)} is not a Stable Diffusion text-to-image pipeline`, { file: indexFile });
  }
  for (const c of ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler']) {
    if (!existsSync(join(dir, c))) throw new CheckpointFormatError(`the pipeline folder has no ${c}/`, { file: dir });
  }
  const v = opts.variant;
  const files = [
    ...modelFolderFiles(join(dir, 'unet'), { variant: v }).weightsFiles,
    ...modelFolderFiles(join(dir, 'vae'), { variant: v }).weightsFiles,
    ...modelFolderFiles(join(dir, 'text_encoder'), { variant: v, names: WEIGHTS_NAMES.transformers }).weightsFiles,
  ];
  assertFitsBackend(`Stable Diffusion (${dir})`, await weightBytes(files));
  const scheduler = schedulerFrom(dir, opts);
  const tokenizer = await loadClipTokenizer(join(dir, 'tokenizer'));
  const textEncoder = await loadClipTextModel(join(dir, 'text_encoder'), v ? { variant: v } : {});
  const loaded: { dispose(): void }[] = [textEncoder];
  try {
    const unet = await loadUNet(join(dir, 'unet'), v ? { variant: v } : {});
    loaded.push(unet);
    const vae = await loadVae(join(dir, 'vae'), v ? { variant: v } : {});
    loaded.push(vae);
    return { tokenizer, textEncoder, unet, vae, scheduler, dispose: () => loaded.forEach((m) => m.dispose()) };
  } catch (e) {
    loaded.forEach((m) => m.dispose());
    throw e;
  }
}

async function loadFile(file: string, opts: LoadStableDiffusionOptions): Promise<LoadedStableDiffusion> {
  const dir = opts.configDir;
  if (!dir) throw new OptionError('configDir', `a single-file checkpoint (${file}) needs a diffusers folder with the configs, tokenizer and scheduler`);
  assertFitsBackend(`Stable Diffusion (${file})`, await weightBytes([file]));
  const unetJson = readJson(join(dir, 'unet', 'config.json')) as UNet2DConditionConfig;
  const vaeJson = readJson(join(dir, 'vae', 'config.json')) as AutoencoderKLConfig;
  const textFile = join(dir, 'text_encoder', 'config.json');
  const textCfg = resolveClipTextConfig(readJson(textFile) as CLIPTextConfig, { file: textFile });
  const scheduler = schedulerFrom(dir, opts);
  const tokenizer = await loadClipTokenizer(join(dir, 'tokenizer'));
  const models = await loadSingleFile(file, { unet: unetJson, vae: vaeJson });
  try {
    const { params, leftovers } = buildClipTextParams(models.textEncoderWeights, textCfg, { file });
    const textEncoder = new ClipTextModel(textCfg, params, leftovers);
    const { unet, vae } = models;
    if (!unet || !vae) throw new CheckpointFormatError('the checkpoint lacks the UNet or the VAE', { file });
    return { tokenizer, textEncoder, unet, vae, scheduler, dispose: () => [textEncoder, unet, vae].forEach((m) => m.dispose()) };
  } catch (e) {
    models.unet?.dispose();
    models.vae?.dispose();
    throw e;
  }
}
