/**
 * The resumable cache of global directions' channel features (`fs`): a small binary file, `SEMFS01\n`, a u32
 * (little-endian) header length, the JSON header (what the features were computed from), then one float32 record
 * of `nImg · 2 · D` values per finished channel, in channel order. Records are appended as channels finish, so a
 * killed run loses at most the batch in flight; a trailing partial record is dropped on resume.
 * @module
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { CheckpointFormatError } from '@semedit/core';

const MAGIC = 'SEMFS01\n';

/**
 * What a cache was computed from; a resumed cache must match it exactly.
 *
 * @example
 * ```ts
 * const h: FsCacheHeader = { layers: ['synthesis.b4.conv1'], channels: 512, nImg: 100, dim: 512, alpha: 5, key: 'ffhq', inputs: 'ab12…' };
 * ```
 */
export interface FsCacheHeader {
  /** Manipulated layer names, in order. */
  layers: string[];
  /** Channel count K. */
  channels: number;
  nImg: number;
  /** CLIP feature size D. */
  dim: number;
  alpha: number;
  /** Caller's identifier of the generator / CLIP pair. */
  key: string;
  /** SHA-256 of the image styles and the style statistics. */
  inputs: string;
}

/**
 * An opened feature cache (file-backed or in memory).
 *
 * @example
 * ```ts
 * const cache = await FsCache.open('fs.cache', header);
 * cache.done; // channels already computed
 * await cache.append(features); await cache.close();
 * ```
 */
export class FsCache {
  private records: Float32Array[] = [];

  private constructor(
    readonly header: FsCacheHeader,
    private readonly file: { handle: FileHandle; path: string; start: number } | undefined,
    private stored: number,
  ) {}

  /**
   * A cache that keeps records in memory only.
   *
   * @param header what is being computed
   * @example
   * ```ts
   * const cache = FsCache.inMemory(header);
   * ```
   */
  static inMemory(header: FsCacheHeader): FsCache {
    return new FsCache(header, undefined, 0);
  }

  /**
   * Opens (and resumes) or creates a cache file.
   *
   * @param path   the cache file
   * @param header what is being computed; an existing file must have been made for the same
   * @throws CheckpointFormatError when the file is not a cache or was made for other inputs
   * @example
   * ```ts
   * const cache = await FsCache.open('ffhq-fs.cache', header);
   * ```
   */
  static async open(path: string, header: FsCacheHeader): Promise<FsCache> {
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const recordBytes = header.nImg * 2 * header.dim * 4;
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      handle = await open(path, 'w+');
      const head = Buffer.alloc(12);
      head.write(MAGIC, 0, 'latin1');
      head.writeUInt32LE(json.length, 8);
      await handle.write(Buffer.concat([head, json]), 0, 12 + json.length, 0);
      return new FsCache(header, { handle, path, start: 12 + json.length }, 0);
    }
    try {
      const { size } = await handle.stat();
      const head = Buffer.alloc(12);
      await handle.read(head, 0, 12, 0);
      if (size < 12 || head.toString('latin1', 0, 8) !== MAGIC) throw new CheckpointFormatError('not a semedit channel-feature cache (bad magic)', { file: path, offset: 0 });
      const len = head.readUInt32LE(8);
      if (12 + len > size) throw new CheckpointFormatError(`header length ${len} runs past the end of the file`, { file: path, offset: 8 });
      const stored = Buffer.alloc(len);
      await handle.read(stored, 0, len, 12);
      let old: FsCacheHeader;
      try {
        old = JSON.parse(stored.toString('utf8')) as FsCacheHeader;
      } catch {
        throw new CheckpointFormatError('the cache header is not valid JSON', { file: path, offset: 12 });
      }
      for (const k of Object.keys(header) as (keyof FsCacheHeader)[]) {
        if (JSON.stringify(old[k]) !== JSON.stringify(header[k])) {
          throw new CheckpointFormatError(`the cache was made for other inputs ("${k}" differs); remove it or choose another cache file`, { file: path, offset: 12 });
        }
      }
      const start = 12 + len;
      const done = Math.min(header.channels, Math.floor((size - start) / recordBytes));
      // Drop a trailing partial record (an interrupted write of our own cache file).
      if (size !== start + done * recordBytes) await handle.truncate(start + done * recordBytes);
      return new FsCache(header, { handle, path, start }, done);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /**
   * SHA-256 over float arrays (the inputs a cache depends on).
   *
   * @param arrays the inputs
   * @example
   * ```ts
   * FsCache.fingerprint([styles, mean, std]).length; // 64
   * ```
   */
  static fingerprint(arrays: readonly Float32Array[]): string {
    const h = createHash('sha256');
    for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return h.digest('hex');
  }

  /** Channels finished. */
  get done(): number {
    return this.stored + this.records.reduce((n, r) => n + r.length / this.recordLength, 0);
  }

  private get recordLength(): number {
    return this.header.nImg * 2 * this.header.dim;
  }

  /**
   * Appends whole channel records.
   *
   * @param data `[channels · nImg · 2 · D]`
   * @example
   * ```ts
   * await cache.append(features);
   * ```
   */
  async append(data: Float32Array): Promise<void> {
    if (data.length % this.recordLength !== 0) throw new CheckpointFormatError(`record of ${data.length} values is not a multiple of ${this.recordLength}`);
    if (!this.file) {
      this.records.push(data.slice());
      return;
    }
    const at = this.file.start + this.stored * this.recordLength * 4;
    await this.file.handle.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, at);
    this.stored += data.length / this.recordLength;
  }

  /**
   * Every record, `[K · nImg · 2 · D]`, once all channels are done.
   *
   * @example
   * ```ts
   * const fs = await cache.readAll();
   * ```
   */
  async readAll(): Promise<Float32Array> {
    const out = new Float32Array(this.header.channels * this.recordLength);
    if (!this.file) {
      let at = 0;
      for (const r of this.records) (out.set(r, at), (at += r.length));
      return out;
    }
    await this.file.handle.read(new Uint8Array(out.buffer), 0, out.byteLength, this.file.start);
    return out;
  }

  /**
   * Closes the file.
   *
   * @example
   * ```ts
   * await cache.close();
   * ```
   */
  async close(): Promise<void> {
    await this.file?.handle.close();
  }
}
