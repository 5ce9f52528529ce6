/**
 * The prompt batch and latent geometry every Stable Diffusion run starts from (text-to-image, SEGA,
 * Prompt-to-Prompt): prompts expanded per image, negative prompts matched to them, and the latent size from the
 * requested image size or the UNet's `sample_size`.
 * @module
 */
import { OptionError } from '../errors.js';
import type { StableDiffusion } from '../types.js';

/** Latent geometry of a run. */
export interface LatentSize {
  /** VAE down-sampling factor (8 for SD). */
  factor: number;
  /** Latent height and width. */
  height: number;
  width: number;
  /** UNet input channels. */
  channels: number;
}

/**
 * Resolves the image size (default: the UNet's `sample_size` × the VAE factor) and checks it is a positive
 * multiple of the VAE factor.
 *
 * @param sd   the pipeline (UNet and VAE configs)
 * @param opts requested `height` / `width` in pixels
 * @example
 * ```ts
 * latentSize(sd, { height: 512 }); // { factor: 8, height: 64, width: 64, channels: 4 }
 * ```
 */
export function latentSize(sd: Pick<StableDiffusion, 'unet' | 'vae'>, opts: { height?: number; width?: number }): LatentSize {
  const factor = 2 ** (sd.vae.config.blockOutChannels.length - 1);
  const ss = sd.unet.config.sampleSize;
  const size = (name: 'height' | 'width', axis: 0 | 1): number => {
    const v = opts[name] ?? (ss === null ? undefined : (typeof ss === 'number' ? ss : ss[axis]!) * factor);
    if (v === undefined) throw new OptionError(name, 'the UNet config has no sample_size: give height and width');
    if (!Number.isInteger(v) || v <= 0 || v % factor !== 0) throw new OptionError(name, `must be a positive multiple of ${factor}, got ${v}`);
    return v / factor;
  };
  return { factor, height: size('height', 0), width: size('width', 1), channels: sd.unet.config.inChannels };
}

/** The rows of a run: one per image. */
export interface PromptBatch {
  /** The prompts as given (one entry per prompt). */
  prompts0: string[];
  /** One prompt per image (each prompt repeated `numImagesPerPrompt` times). */
  prompts: string[];
  /** One negative prompt per image (default the empty prompt). */
  negatives: string[];
  /** Which given prompt each image belongs to. */
  promptIndex: number[];
}

/**
 * Expands prompts and negative prompts to one row per image.
 *
 * @param prompt             one prompt or a list
 * @param negativePrompt     one for all, or one per prompt (default: the empty prompt)
 * @param numImagesPerPrompt images per prompt (default 1)
 * @example
 * ```ts
 * promptBatch(['a cat', 'a dog'], 'blurry', 2).promptIndex; // [0, 0, 1, 1]
 * ```
 */
export function promptBatch(
  prompt: string | readonly string[], negativePrompt: string | readonly string[] | undefined, numImagesPerPrompt = 1,
): PromptBatch {
  const prompts0 = typeof prompt === 'string' ? [prompt] : [...prompt];
  if (prompts0.length === 0 || prompts0.some((p) => typeof p !== 'string')) throw new OptionError('prompt', 'must be a non-empty string or list of strings');
  if (!Number.isInteger(numImagesPerPrompt) || numImagesPerPrompt < 1) {
    throw new OptionError('numImagesPerPrompt', `must be a positive integer, got ${numImagesPerPrompt}`);
  }
  const n = prompts0.length;
  let negatives0: string[];
  if (negativePrompt === undefined) negatives0 = prompts0.map(() => '');
  else {
    const list = typeof negativePrompt === 'string' ? [negativePrompt] : [...negativePrompt];
    if (list.some((p) => typeof p !== 'string')) throw new OptionError('negativePrompt', 'must be strings');
    if (list.length !== 1 && list.length !== n) throw new OptionError('negativePrompt', `has ${list.length} entries for ${n} prompts`);
    negatives0 = list.length === 1 ? prompts0.map(() => list[0]!) : list;
  }
  const expand = <T>(xs: readonly T[]): T[] => xs.flatMap((x) => Array.from({ length: numImagesPerPrompt }, () => x));
  return { prompts0, prompts: expand(prompts0), negatives: expand(negatives0), promptIndex: expand(prompts0.map((_, i) => i)) };
}
