/**
 * Refusing image sizes that cannot be computed before any work: the VAE decoder's last stage holds a few
 * full-resolution activations of `block_out_channels[0]` float32 channels per image, which dominates the memory
 * of a run; that estimate is compared with what the machine (and, on wasm, the 4 GiB heap) can hold.
 * @module
 */
import { totalmem } from 'node:os';
import { wasmHeapStats } from '../backend/index.js';
import { SemeditError } from '../errors.js';

/** Full-resolution activations the VAE decoder keeps alive at once (input, norm, conv output, residual). */
const LIVE_FULL_RES_BUFFERS = 4;

/**
 * An image size needs more memory than is available; `option` names the setting (`height`).
 *
 * @example
 * ```ts
 * throw new ImageTooLargeError('height', 65536, 65536, 2 ** 42, 2 ** 37);
 * ```
 */
export class ImageTooLargeError extends SemeditError {
  /**
   * @param option         the size setting, for messages
   * @param height         pixels
   * @param width          pixels
   * @param neededBytes    estimated bytes of the run
   * @param availableBytes what the machine or backend has
   */
  constructor(readonly option: string, readonly height: number, readonly width: number, readonly neededBytes: number, readonly availableBytes: number) {
    const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;
    super('E_IMAGE_TOO_LARGE', `a ${height}x${width} image would need about ${gib(neededBytes)} of memory; ${gib(availableBytes)} is available`);
  }
}

/**
 * Estimated bytes a text-to-image run of this size needs (the VAE decoder's full-resolution stage).
 *
 * @param size `height`, `width`, `images` (per call) and the VAE's `blockOutChannels`
 * @example
 * ```ts
 * imageWorkBytes({ height: 512, width: 512, images: 1, blockOutChannels: [128, 256, 512, 512] }); // 536870912
 * ```
 */
export function imageWorkBytes(size: { height: number; width: number; images: number; blockOutChannels: readonly number[] }): number {
  return size.height * size.width * size.images * (size.blockOutChannels[0] ?? 0) * 4 * LIVE_FULL_RES_BUFFERS;
}

/**
 * Throws {@link ImageTooLargeError} when a run of this size cannot fit the machine's memory (or the wasm heap
 * when that backend is active).
 *
 * @param size see {@link imageWorkBytes}
 * @example
 * ```ts
 * assertImageFits({ height: 16384, width: 16384, images: 1, blockOutChannels: [128, 256, 512, 512] }); // throws
 * ```
 */
export function assertImageFits(size: { height: number; width: number; images: number; blockOutChannels: readonly number[] }): void {
  const needed = imageWorkBytes(size);
  const heap = wasmHeapStats()?.freeBytes;
  const available = Math.min(totalmem(), heap ?? Infinity);
  if (needed > available) throw new ImageTooLargeError('height', size.height, size.width, needed, available);
}
