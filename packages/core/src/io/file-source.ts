/**
 * Random-access byte sources (a file handle, or bytes in memory) and atomic file writes. Readers of large
 * checkpoints read only the byte ranges they need through a {@link ByteSource}, with positions as plain numbers
 * (exact up to 2^53, so files over 4 GiB work).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CheckpointFormatError, SemeditError } from '../errors.js';

/** Largest single `read` request handed to the OS (Node caps one read at 2^31 - 1 bytes). */
const READ_CHUNK = 1 << 30;

/**
 * A file could not be opened, read, or written (missing, a directory, no permission, ...).
 *
 * @example
 * ```ts
 * throw new FileAccessError('model.safetensors', 'no such file');
 * ```
 */
export class FileAccessError extends SemeditError {
  /**
   * @param file   the path that failed
   * @param detail what went wrong
   */
  constructor(readonly file: string, detail: string) {
    super('E_IO', `${file}: ${detail}`);
  }
}

/**
 * Bytes that can be read at any position without loading all of them.
 *
 * @example
 * ```ts
 * const src = await openFileSource('model.safetensors');
 * const first8 = await src.read(0, 8);
 * await src.close();
 * ```
 */
export interface ByteSource {
  /** Name used in error messages (the file path, or a caller-given label). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset` into a new, exclusively owned `Uint8Array` (its buffer starts at byte 0).
   * Throws {@link CheckpointFormatError} if the range is outside the source.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the underlying handle; later reads throw. */
  close(): Promise<void>;
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new CheckpointFormatError(`invalid read range (offset ${offset}, length ${length})`, { file: name });
  }
  if (offset + length > size) {
    throw new CheckpointFormatError(`read of ${length} bytes at ${offset} runs past the end (${size} bytes)`, {
      file: name,
      offset: size,
    });
  }
  if (length > bufferConstants.MAX_LENGTH) {
    throw new SemeditError('E_TOO_LARGE', `${name}: a single read of ${length} bytes exceeds this runtime's buffer limit`);
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e && typeof e.message === 'string' ? (e.code ? `${e.code}: ${e.message}` : e.message) : String(err);
}

class FileSource implements ByteSource {
  private fh: FileHandle | undefined;
  constructor(readonly name: string, fh: FileHandle, readonly size: number) {
    this.fh = fh;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    const fh = this.fh;
    if (!fh) throw new SemeditError('E_CLOSED', `${this.name}: read after close()`);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(out, done, Math.min(length - done, READ_CHUNK), offset + done));
      } catch (err) {
        throw new FileAccessError(this.name, `read failed at byte ${offset + done}: ${describe(err)}`);
      }
      if (n === 0) {
        throw new CheckpointFormatError(`file ended early (it was truncated while open?)`, { file: this.name, offset: offset + done });
      }
      done += n;
    }
    return out;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close();
  }
}

/**
 * Opens a regular file for positional reads.
 *
 * @param path file to open (never modified)
 * @example
 * ```ts
 * const src = await openFileSource('unet/diffusion_pytorch_model.safetensors');
 * console.log(src.size);
 * await src.close();
 * ```
 */
export async function openFileSource(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new FileAccessError(path, `cannot open: ${describe(err)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FileAccessError(path, 'not a regular file');
    return new FileSource(path, fh, st.size);
  } catch (err) {
    await fh.close();
    throw err instanceof SemeditError ? err : new FileAccessError(path, describe(err));
  }
}

/**
 * Wraps bytes already in memory as a {@link ByteSource}; reads return copies, so the caller's buffer is never
 * aliased.
 *
 * @param bytes the data
 * @param name  label for error messages
 * @example
 * ```ts
 * const src = bufferSource(new Uint8Array([1, 2, 3]), 'inline');
 * await src.read(1, 2); // Uint8Array [2, 3]
 * ```
 */
export function bufferSource(bytes: Uint8Array, name = '<buffer>'): ByteSource {
  return {
    name,
    size: bytes.length,
    read: async (offset, length) => {
      checkRange(name, bytes.length, offset, length);
      return bytes.slice(offset, offset + length);
    },
    close: async () => {},
  };
}

/**
 * Writes a file atomically: the chunks go to a temporary file in the same folder, which is then renamed over
 * `path`. A failed write leaves any previous file untouched and removes the temporary one.
 *
 * @param path   destination
 * @param chunks byte chunks written in order (an iterable, so large outputs can be produced lazily)
 * @example
 * ```ts
 * await writeFileAtomic('out.bin', [new Uint8Array([1, 2]), new Uint8Array([3])]);
 * ```
 */
export async function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, done, Math.min(chunk.length - done, READ_CHUNK));
        done += bytesWritten;
      }
    }
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (err) {
    if (fh) await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    if (err instanceof SemeditError) throw err;
    throw new FileAccessError(path, `write failed: ${describe(err)}`);
  }
}
