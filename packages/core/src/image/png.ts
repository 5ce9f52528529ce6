/**
 * PNG decode/encode (through pngjs) and atomic file read/write.
 *
 * Reading accepts every PNG colour type and bit depth. Samples come back as 8 bits: 16-bit samples are scaled
 * as `floor(v * 255 / 65535 + 0.5)` (that is, `round(v / 257)`), and 1/2/4-bit samples are scaled to 0..255 the
 * same way. Palette images are expanded; pixels matching a tRNS transparent colour become (0, 0, 0, 0) (pngjs'
 * behaviour). The gAMA chunk is not applied. Writing produces 8-bit gray, RGB or RGBA PNGs.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import type { ColorType } from 'pngjs';
import { assertImage, toChannels } from './image.js';
import type { Channels, Image } from './image.js';
import { ImageFormatError } from './errors.js';

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** Options of {@link decodePng} and {@link readPng}. */
export interface ReadPngOptions {
  /** Convert to this channel count (see `toChannels`); default: the file's own (gray 1, colour 3, any alpha 4). */
  channels?: Channels;
  /** Name used in errors for a byte buffer; defaults to the path for files. */
  name?: string;
}

/**
 * Decodes PNG bytes into an 8-bit {@link Image}.
 *
 * Gray files give 1 channel, colour (and palette) files 3, and any file with alpha (an alpha channel or a tRNS
 * chunk) 4; gray with alpha is expanded to RGBA.
 *
 * @param bytes PNG file contents
 * @param opts  `channels` to force a channel count, `name` for errors
 * @throws ImageFormatError when the bytes are not a complete, valid PNG
 * @example
 * ```ts
 * const img = decodePng(encodePng(createImage(2, 2, 3, [9, 8, 7])));
 * console.log(img.width, img.channels, img.data[0]); // 2 3 9
 * ```
 */
export function decodePng(bytes: Uint8Array, opts: ReadPngOptions = {}): Image {
  const name = opts.name;
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new ImageFormatError(`not a PNG file (the first 8 bytes are not the PNG signature; ${bytes.length} bytes)`, name);
  }
  let png;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // pngjs reports running out of bytes as pending reads on a finished stream.
    const detail = /finished stream|ran out of data/i.test(msg)
      ? `truncated PNG: the data ends before the image is complete (${bytes.length} bytes)`
      : `corrupt PNG: ${msg}`;
    throw new ImageFormatError(detail, name);
  }
  const { width, height } = png;
  const rgba = png.data;
  if (rgba.length !== width * height * 4) {
    throw new ImageFormatError(`decoded ${rgba.length} bytes for a ${width}x${height} image`, name);
  }
  const own: Channels = png.alpha ? 4 : png.color ? 3 : 1;
  const data = new Uint8Array(width * height * own);
  if (own === 4) data.set(rgba);
  else for (let p = 0, n = width * height; p < n; p++) for (let c = 0; c < own; c++) data[p * own + c] = rgba[p * 4 + c]!;
  const img: Image = { width, height, channels: own, data };
  return opts.channels === undefined ? img : toChannels(img, opts.channels);
}

/**
 * Encodes an {@link Image} as an 8-bit PNG (colour type gray, RGB or RGBA after its channel count).
 *
 * @param img the image; its data is not modified
 * @example
 * ```ts
 * const bytes = encodePng(createImage(4, 4, 1, 128));
 * console.log(bytes.subarray(1, 4).toString()); // '80,78,71' ('PNG')
 * ```
 */
export function encodePng(img: Image): Uint8Array {
  assertImage(img);
  const colorType: ColorType = img.channels === 1 ? 0 : img.channels === 3 ? 2 : 6;
  const png = new PNG();
  png.width = img.width;
  png.height = img.height;
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  const out = PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: img.channels === 4, bitDepth: 8 });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Reads a PNG file (or decodes bytes already in memory) into an 8-bit {@link Image}.
 *
 * @param src  a file path, or the PNG bytes
 * @param opts see {@link ReadPngOptions}
 * @throws ImageFormatError naming the file when it is not a valid PNG
 * @example
 * ```ts
 * const img = await readPng('cat.png');
 * console.log(img.width, img.height, img.channels); // 512 512 3
 * ```
 */
export async function readPng(src: string | Uint8Array, opts: ReadPngOptions = {}): Promise<Image> {
  if (typeof src !== 'string') return decodePng(src, opts);
  const bytes = await readFile(src);
  return decodePng(bytes, { ...opts, name: opts.name ?? src });
}

/**
 * Writes an {@link Image} as a PNG file atomically: the bytes go to a temporary file in the same folder, which
 * is then renamed over `path`, so a crash never leaves a half-written image.
 *
 * @param path destination file
 * @param img  the image to write
 * @example
 * ```ts
 * await writePng('out.png', createImage(8, 8, 3, [0, 128, 255]));
 * ```
 */
export async function writePng(path: string, img: Image): Promise<void> {
  await writeFileAtomic(path, encodePng(img));
}

/** Writes bytes to `path` through a temporary sibling file and a rename. */
async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
