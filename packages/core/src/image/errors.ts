/**
 * Typed errors of the image module: malformed image files and tensor values that cannot become pixels.
 * @module
 */
import { SemeditError } from '../errors.js';

/**
 * An image file (or byte buffer) is not a PNG we can read: bad signature, truncated, failed CRC, corrupt data.
 *
 * @example
 * ```ts
 * try { await readPng('broken.png'); }
 * catch (e) { if (e instanceof ImageFormatError) console.log(e.code, e.file); } // 'E_IMAGE_FORMAT' 'broken.png'
 * ```
 */
export class ImageFormatError extends SemeditError {
  /** The file the image came from, or a caller-given name for a byte buffer; undefined when unknown. */
  readonly file: string | undefined;
  /**
   * @param detail what is wrong with the image
   * @param file   the file (or buffer name) it was read from
   */
  constructor(detail: string, file?: string) {
    super('E_IMAGE_FORMAT', file ? `${file}: ${detail}` : detail);
    this.file = file;
  }
}

/**
 * A tensor to be turned into pixels holds NaN or infinite values; writing them would silently give black or
 * white pixels, so we refuse and say how many there are.
 *
 * @example
 * ```ts
 * try { tensorToImage(tf.tensor3d([NaN, 0, 0], [1, 1, 3]), { range: '-1-1' }); }
 * catch (e) { if (e instanceof ImageValueError) console.log(e.nanCount); } // 1
 * ```
 */
export class ImageValueError extends SemeditError {
  /**
   * @param what     what held the values (tensor name, file being written)
   * @param nanCount number of NaN values
   * @param infCount number of +Infinity or -Infinity values
   * @param total    number of values inspected
   */
  constructor(
    readonly what: string,
    readonly nanCount: number,
    readonly infCount: number,
    readonly total: number,
  ) {
    const parts = [nanCount ? `${nanCount} NaN` : '', infCount ? `${infCount} infinite` : ''].filter(Boolean);
    super('E_IMAGE_VALUE', `${what}: ${parts.join(' and ')} value(s) among ${total}; refusing to convert to pixels`);
  }
}
