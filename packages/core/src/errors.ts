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
