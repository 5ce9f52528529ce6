/**
 * Typed errors. Every error semedit throws on bad input is a {@link SemeditError} with a stable `code`, and
 * names what was wrong and where (file, tensor key, byte offset, option name).
 *
 * @example
 * ```ts
 * try { await readSafetensors('model.safetensors'); }
 * catch (e) { if (e instanceof CheckpointFormatError) console.log(e.code, e.file, e.offset); }
 * ```
 * @module
 */

/**
 * Base class of every error semedit raises on purpose.
 *
 * @example
 * ```ts
 * if (err instanceof SemeditError) console.error(`[${err.code}] ${err.message}`);
 * ```
 */
export class SemeditError extends Error {
  /** Stable machine-readable code, e.g. `E_CHECKPOINT_FORMAT`. */
  readonly code: string;
  /**
   * @param code    stable code of the error kind
   * @param message human-readable message naming what was wrong and where
   */
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A checkpoint file is malformed: truncated, corrupt, inconsistent, or of an unsupported kind.
 *
 * @example
 * ```ts
 * throw new CheckpointFormatError('header length exceeds the file size', { file: 'a.safetensors', offset: 0 });
 * ```
 */
export class CheckpointFormatError extends SemeditError {
  /** The file (or archive record) the problem was found in, when known. */
  readonly file: string | undefined;
  /** Byte offset of the problem within the file or record, when known. */
  readonly offset: number | undefined;
  /**
   * @param detail what is wrong
   * @param where  `{ file, offset }` of the problem
   */
  constructor(detail: string, where: { file?: string | undefined; offset?: number | undefined } = {}) {
    const at = [where.file, where.offset !== undefined ? `byte ${where.offset}` : undefined].filter(Boolean).join(' at ');
    super('E_CHECKPOINT_FORMAT', at ? `${at}: ${detail}` : detail);
    this.file = where.file;
    this.offset = where.offset;
  }
}

/**
 * An expected weight is absent from a checkpoint.
 *
 * @example
 * ```ts
 * throw new MissingWeightError('conv_in.weight', 'unet/diffusion_pytorch_model.safetensors');
 * ```
 */
export class MissingWeightError extends SemeditError {
  /**
   * @param key  the missing tensor key
   * @param file the checkpoint it was looked for in
   */
  constructor(readonly key: string, readonly file: string | undefined, hint = '') {
    super('E_MISSING_WEIGHT', `missing weight "${key}"${file ? ` in ${file}` : ''}${hint ? ` (${hint})` : ''}`);
  }
}

/**
 * A tensor's shape does not fit what the model or function expects.
 *
 * @example
 * ```ts
 * throw new ShapeMismatchError('conv_in.weight', [32, 4, 3, 3], [32, 8, 3, 3], 'model.safetensors');
 * ```
 */
export class ShapeMismatchError extends SemeditError {
  /**
   * @param key      tensor key or argument name
   * @param expected the expected shape (`-1` or `null` for any size)
   * @param actual   the shape found
   * @param file     where the tensor came from, if a file
   */
  constructor(
    readonly key: string,
    readonly expected: readonly (number | null)[],
    readonly actual: readonly number[],
    readonly file?: string,
  ) {
    const fmt = (s: readonly (number | null)[]) => `[${s.map((d) => (d === null || d < 0 ? '*' : d)).join(', ')}]`;
    super('E_SHAPE', `"${key}"${file ? ` in ${file}` : ''} has shape ${fmt(actual)}, expected ${fmt(expected)}`);
  }
}

/**
 * An option or argument is unknown or out of range.
 *
 * @example
 * ```ts
 * throw new OptionError('backend', 'must be one of wasm, cpu, webgpu, tensorflow');
 * ```
 */
export class OptionError extends SemeditError {
  /**
   * @param option the option's name
   * @param detail what is wrong with it
   */
  constructor(readonly option: string, detail: string) {
    super('E_OPTION', `option "${option}": ${detail}`);
  }
}

/**
 * A model or scheduler config cannot be used: a key we do not know or support, or a value of the wrong type, out
 * of range, or inconsistent with another. Every config error is one of its subclasses and names the model, the
 * key(s) and the file.
 *
 * @example
 * ```ts
 * try { await loadUNet('sd15/unet'); }
 * catch (e) { if (e instanceof ConfigError) console.log(e.model, e.keys, e.file); }
 * ```
 */
export class ConfigError extends SemeditError {
  /**
   * @param code    stable code of the error kind
   * @param message the whole message
   * @param model   the class the config is for (`UNet2DConditionModel`, `DDIMScheduler`, `CLIPTextModel`, …)
   * @param keys    the offending key(s), dotted when nested
   * @param file    the config file, when known
   */
  constructor(code: string, message: string, readonly model: string, readonly keys: readonly string[], readonly file?: string) {
    super(code, message);
  }

  /** The first offending key. */
  get key(): string {
    return this.keys[0] ?? '';
  }

  /** The config file, when known (older name of {@link ConfigError.file}). */
  get source(): string | undefined {
    return this.file;
  }
}

const cfgWhere = (model: string, file?: string) => `${model} config${file ? ` (${file})` : ''}`;

/**
 * A model config sets keys (or values) this implementation does not support; the message names every one.
 *
 * @example
 * ```ts
 * throw new UnsupportedConfigError('UNet2DConditionModel', ['class_embed_type="timestep"'], 'unet/config.json');
 * ```
 */
export class UnsupportedConfigError extends ConfigError {
  /**
   * @param model  the class the config is for, e.g. `UNet2DConditionModel`
   * @param keys   each offending key, with its value where that helps (`key="value"`)
   * @param file   where the config came from, if known
   */
  constructor(model: string, keys: string[], file?: string) {
    super('E_UNSUPPORTED_CONFIG', `${cfgWhere(model, file)}: unsupported ${keys.length === 1 ? 'setting' : 'settings'} ${keys.join(', ')}`, model, keys, file);
  }
}

/**
 * A model config value is malformed or inconsistent (a list of the wrong length, channels not divisible by the
 * group count, ...).
 *
 * @example
 * ```ts
 * throw new InvalidConfigError('AutoencoderKL', 'up_block_types', 'must have one entry per block_out_channels');
 * ```
 */
export class InvalidConfigError extends ConfigError {
  /**
   * @param model  the class the config is for
   * @param key    the offending key
   * @param detail what is wrong with it
   * @param file   where the config came from, if known
   */
  constructor(model: string, key: string, detail: string, file?: string) {
    super('E_INVALID_CONFIG', `${cfgWhere(model, file)}: "${key}" ${detail}`, model, [key], file);
  }
}

/**
 * A config holds keys this implementation does not know; nothing is guessed, every key is named.
 *
 * @example
 * ```ts
 * throw new UnknownConfigKeyError(['synthesis_kwargs.channel_bsae'], 'config.json');
 * ```
 */
export class UnknownConfigKeyError extends ConfigError {
  /**
   * @param keys   every unknown key, dotted when nested (`mapping_kwargs.foo`)
   * @param file   where the config came from, if known
   * @param model  the class the config is for (default `StyleGAN2`)
   */
  constructor(keys: string[], file?: string, model = 'StyleGAN2') {
    super('E_UNKNOWN_CONFIG_KEY', `${cfgWhere(model, file)}: unknown ${keys.length === 1 ? 'key' : 'keys'} ${keys.map((k) => `"${k}"`).join(', ')}`, model, keys, file);
  }
}

/**
 * A scheduler config key is unknown, has the wrong type, or has a value this implementation does not support.
 *
 * @example
 * ```ts
 * try { resolveSchedulerConfig({ _class_name: 'DDIMScheduler', timestep_spacing: 'cosine' }); }
 * catch (e) { if (e instanceof SchedulerConfigError) console.log(e.key); } // 'timestep_spacing'
 * ```
 */
export class SchedulerConfigError extends ConfigError {
  /**
   * @param key    the offending key (diffusers spelling), e.g. `timestep_spacing`
   * @param detail what is wrong with it
   * @param file   the config file, when known
   */
  constructor(key: string, detail: string, file?: string) {
    super('E_SCHEDULER_CONFIG', `${file ? `${file}: ` : ''}scheduler config "${key}": ${detail}`, 'scheduler', [key], file);
  }
}

/**
 * A CLIP config is unusable: an unknown or unsupported key, a value of the wrong type or out of range, an
 * unsupported `hidden_act`, or a `model_type` that is not CLIP.
 *
 * @example
 * ```ts
 * try { resolveClipTextConfig({ hidden_act: 'relu' }, { file: 'text_encoder/config.json' }); }
 * catch (e) { if (e instanceof ClipConfigError) console.log(e.key, e.file); } // 'hidden_act' 'text_encoder/config.json'
 * ```
 */
export class ClipConfigError extends ConfigError {
  /**
   * @param key    the key at fault, dotted for nested keys (e.g. `vision_config.patch_size`)
   * @param detail what is wrong with it
   * @param file   the config file, when known
   */
  constructor(key: string, detail: string, file?: string) {
    super('E_CLIP_CONFIG', `${file ? `${file}: ` : ''}config key "${key}": ${detail}`, 'CLIP', [key], file);
  }
}

/**
 * A NaN or an infinity appeared where a finite number is needed: the message says where it first appeared (the
 * starting latents, the denoiser's output or the scheduler's step at a given step), so a broken weight, a
 * scheduler setting or an extreme option is found instead of an all-black image.
 *
 * @example
 * ```ts
 * try { await runTextToImage(sd, { prompt: 'a cat', guidanceScale: 1e308 }); }
 * catch (e) { if (e instanceof NonFiniteError) console.log(e.where, e.step?.index); }
 * ```
 */
export class NonFiniteError extends SemeditError {
  /**
   * @param where what held the non-finite value
   * @param step  the sampling step, when inside a loop
   */
  constructor(readonly where: string, readonly step: { index: number; count: number; timestep: number } | undefined) {
    super('E_NON_FINITE', `NaN or Inf in ${where}${step ? ` at step ${step.index + 1} of ${step.count} (timestep ${step.timestep})` : ''}`);
  }
}

/**
 * A model was used after `dispose()` freed its weights (for example a pipeline disposed while a run was still
 * going): load it again.
 *
 * @example
 * ```ts
 * unet.dispose();
 * unet.forward(x, 981, ehs); // throws DisposedError: UNet2DConditionModel was disposed
 * ```
 */
export class DisposedError extends SemeditError {
  /** @param what the model that was disposed */
  constructor(readonly what: string) {
    super('E_DISPOSED', `${what} was disposed (its weights are freed); load it again to use it`);
  }
}
