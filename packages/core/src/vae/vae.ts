/**
 * `AutoencoderKL`: the Stable Diffusion VAE. `encode` gives the diagonal Gaussian posterior (mean, log-variance,
 * std, and a sample when the noise is supplied), `decode` maps latents back to images; `scalingFactor` is the
 * config's `scaling_factor` pipelines apply. NHWC throughout; each call is one `tf.tidy`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { DisposedError, ShapeMismatchError } from '../errors.js';
import type { TakeOptions } from '../io/strict.js';
import type { RawTensor } from '../io/types.js';
import { conv2d } from '../nn/conv.js';
import { paramTensors } from '../nn/weights.js';
import { readModelFolder, type ModelFolderOptions } from '../io/model-folder.js';
import { resolveVaeConfig, type AutoencoderKLConfig, type ResolvedVaeConfig } from './config.js';
import { vaeDecoder } from './decoder.js';
import { vaeEncoder } from './encoder.js';
import { buildVaeParams, type VaeParams } from './params.js';
import { storeWeights } from '../backend/weight-storage.js';

/**
 * The posterior `N(mean, exp(logvar))` of {@link AutoencoderKL.encode}.
 *
 * @example
 * ```ts
 * const { mean, std, sample } = vae.encode(image, { noise });
 * ```
 */
export interface VaePosterior {
  /** `[B, h, w, latent_channels]`. */
  mean: tf.Tensor4D;
  /** Log-variance clamped to [-30, 20], `[B, h, w, latent_channels]`. */
  logvar: tf.Tensor4D;
  /** `exp(0.5 · logvar)`. */
  std: tf.Tensor4D;
  /** `mean + std · noise`, present when `noise` was given. */
  sample?: tf.Tensor4D;
}

/**
 * Options of {@link AutoencoderKL.encode} and {@link AutoencoderKL.decode}.
 *
 * @example
 * ```ts
 * const o: VaeCallOptions = { noise: randn([1, 64, 64, 4]) };
 * ```
 */
export interface VaeCallOptions {
  /** encode: standard normal noise `[B, h, w, latent_channels]` for the posterior sample. */
  noise?: tf.Tensor4D;
  /** Bound on the mid attention's scores per chunk. */
  maxScoreElements?: number;
  /** Called with `encoder`, `quant_conv` (encode) and `post_quant_conv`, `decoder` (decode) outputs. */
  observe?: (module: string, output: tf.Tensor) => void;
}

/**
 * The SD VAE (diffusers `AutoencoderKL`).
 *
 * @example
 * ```ts
 * const vae = await loadVae('sd15/vae');
 * const image = vae.decode(vae.unscaleLatents(latents)); // [1, 64, 64, 4] -> [1, 512, 512, 3]
 * ```
 */
export class AutoencoderKL {
  private disposed = false;

  /** The resolved config the model runs with. */
  readonly config: ResolvedVaeConfig;
  /** Parameters, keyed like the diffusers module tree. */
  readonly params: VaeParams;

  /**
   * @param config resolved config
   * @param params parameter tree (see {@link buildVaeParams})
   */
  constructor(config: ResolvedVaeConfig, params: VaeParams) {
    this.config = config;
    this.params = params;
    storeWeights(paramTensors(params));
  }

  /**
   * Builds a VAE from diffusers-keyed tensors and a config, strictly.
   *
   * @param weights tensors by diffusers key
   * @param config  diffusers `config.json` contents, or a resolved config
   * @param opts    file name for errors, accepted leftovers
   * @example
   * ```ts
   * const vae = AutoencoderKL.fromWeights(ck.tensors, json, { file: ck.file });
   * ```
   */
  static fromWeights(weights: ReadonlyMap<string, RawTensor>, config: AutoencoderKLConfig | ResolvedVaeConfig, opts: TakeOptions = {}): AutoencoderKL {
    const cfg = 'blockOutChannels' in config ? config : resolveVaeConfig(config);
    return new AutoencoderKL(cfg, buildVaeParams(weights, cfg, opts));
  }

  /**
   * The config's `scaling_factor`: pipelines use `latents = sample · s` and decode `latents / s`.
   *
   * @example
   * ```ts
   * const latents = tf.mul(vae.encode(img, { noise }).sample!, vae.scalingFactor);
   * ```
   */
  get scalingFactor(): number {
    return this.config.scalingFactor;
  }

  /**
   * Pipeline latents from a VAE sample: `(sample - shift_factor) · scaling_factor` (diffusers' convention; the
   * shift is 0 for SD 1.x/2.x).
   *
   * @param sample `[B, h, w, latent_channels]`, e.g. `encode(...).sample`
   * @example
   * ```ts
   * const latents = vae.scaleLatents(vae.encode(img, { noise }).sample!);
   * ```
   */
  scaleLatents(sample: tf.Tensor4D): tf.Tensor4D {
    const { scalingFactor: s, shiftFactor: shift } = this.config;
    return tf.tidy(() => tf.mul(shift ? tf.sub(sample, shift) : sample, s));
  }

  /**
   * The inverse of {@link scaleLatents}: `latents / scaling_factor + shift_factor`, what {@link decode} takes.
   *
   * @param latents pipeline latents `[B, h, w, latent_channels]`
   * @example
   * ```ts
   * const image = vae.decode(vae.unscaleLatents(latents));
   * ```
   */
  unscaleLatents(latents: tf.Tensor4D): tf.Tensor4D {
    const { scalingFactor: s, shiftFactor: shift } = this.config;
    return tf.tidy(() => {
      const z = tf.div(latents, s) as tf.Tensor4D;
      return shift ? tf.add(z, shift) : z;
    });
  }

  /**
   * Encodes images to the latent posterior: `moments = quant_conv(encoder(x))`, split into mean and log-variance.
   *
   * @param image `[B, H, W, in_channels]` in [-1, 1]
   * @param opts  noise for the sample, chunk bound, observer
   * @throws ShapeMismatchError for a wrongly shaped image or noise
   * @example
   * ```ts
   * const { sample } = vae.encode(img, { noise }); // img [1, 512, 512, 3] -> sample [1, 64, 64, 4]
   * ```
   */
  encode(image: tf.Tensor4D, opts: VaeCallOptions = {}): VaePosterior {
    if (this.disposed) throw new DisposedError('AutoencoderKL');
    const cfg = this.config;
    if (image.rank !== 4 || image.shape[3] !== cfg.inChannels) throw new ShapeMismatchError('image', [null, null, null, cfg.inChannels], image.shape);
    const observe = opts.observe ?? (() => undefined);
    return tf.tidy(() => {
      let moments = vaeEncoder(this.params.encoder, image, this.blockOptions(opts));
      observe('encoder', moments);
      if (this.params.quant_conv) moments = conv2d(this.params.quant_conv, moments);
      observe('quant_conv', moments);
      const [mean, rawLogvar] = tf.split(moments, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      const logvar = tf.clipByValue(rawLogvar, -30, 20);
      const std = tf.exp(tf.mul(logvar, 0.5)) as tf.Tensor4D;
      if (!opts.noise) return { mean, logvar, std };
      if (opts.noise.shape.some((s, i) => s !== mean.shape[i]) || opts.noise.rank !== 4) throw new ShapeMismatchError('noise', mean.shape, opts.noise.shape);
      return { mean, logvar, std, sample: tf.add(mean, tf.mul(std, opts.noise)) as tf.Tensor4D };
    });
  }

  /**
   * Decodes latents (unscaled: divide pipeline latents by {@link scalingFactor} first) to images.
   *
   * @param z    `[B, h, w, latent_channels]`
   * @param opts chunk bound, observer
   * @returns `[B, H, W, out_channels]`, roughly in [-1, 1], not clamped
   * @throws ShapeMismatchError for wrongly shaped latents
   * @example
   * ```ts
   * const img = vae.decode(z); // [1, 32, 32, 4] -> [1, 64, 64, 3] for a 2-level VAE
   * ```
   */
  decode(z: tf.Tensor4D, opts: VaeCallOptions = {}): tf.Tensor4D {
    if (this.disposed) throw new DisposedError('AutoencoderKL');
    const cfg = this.config;
    if (z.rank !== 4 || z.shape[3] !== cfg.latentChannels) throw new ShapeMismatchError('latents', [null, null, null, cfg.latentChannels], z.shape);
    const observe = opts.observe ?? (() => undefined);
    return tf.tidy(() => {
      const post: tf.Tensor4D = this.params.post_quant_conv ? conv2d(this.params.post_quant_conv, z) : z;
      observe('post_quant_conv', post);
      const out = vaeDecoder(this.params.decoder, post, this.blockOptions(opts));
      observe('decoder', out);
      return out;
    });
  }

  /**
   * Frees every parameter tensor.
   *
   * @example
   * ```ts
   * vae.dispose();
   * ```
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(paramTensors(this.params));
  }

  private blockOptions(opts: VaeCallOptions): { groups: number; maxScoreElements?: number } {
    return { groups: this.config.normNumGroups, maxScoreElements: opts.maxScoreElements || undefined };
  }
}

/**
 * Options of {@link loadVae}.
 *
 * @example
 * ```ts
 * const o: LoadVaeOptions = { variant: 'fp16' };
 * ```
 */
export interface LoadVaeOptions extends ModelFolderOptions {
  /** Use this config instead of the folder's `config.json`. */
  config?: AutoencoderKLConfig;
}

/**
 * Loads an `AutoencoderKL` from a diffusers folder (`vae/`) through the strict loader.
 *
 * @param dir  the model folder
 * @param opts weights variant, config override
 * @example
 * ```ts
 * const vae = await loadVae('stable-diffusion-v1-5/vae');
 * vae.scalingFactor; // 0.18215
 * ```
 */
export async function loadVae(dir: string, opts: LoadVaeOptions = {}): Promise<AutoencoderKL> {
  const folder = await readModelFolder(dir, opts);
  const cfg = resolveVaeConfig(opts.config ?? (folder.config as AutoencoderKLConfig), opts.config ? undefined : folder.configFile);
  return AutoencoderKL.fromWeights(folder.weights, cfg, { file: folder.weightsFiles.join(', ') });
}
