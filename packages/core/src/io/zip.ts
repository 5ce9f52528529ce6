/**
 * Zip archive reader for PyTorch checkpoints: end-of-central-directory search, zip64 records and extra fields,
 * stored and deflated entries, CRC-32 verification. Only the central directory is read up front; each entry is
 * read on demand at its byte range, so archives larger than 4 GiB work without loading them whole.
 * @module
 */
import { createInflateRaw } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { constants as bufferConstants } from 'node:buffer';
import { CheckpointFormatError } from '../errors.js';
import { bufferSource, openFileSource, type ByteSource } from './file-source.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** Deflate expands at most about 1032:1 (a 258-byte match per 2 bits); a record declaring more is a lie. */
const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes read per step while inflating. */
const INFLATE_CHUNK = 1 << 22;

/**
 * One record of a zip archive, as its central directory describes it.
 *
 * @example
 * ```ts
 * const e: ZipEntry = zip.entry('model/data.pkl')!;
 * e.size; // uncompressed bytes
 * ```
 */
export interface ZipEntry {
  /** Record name (`archive/data.pkl`, `archive/data/0`, ...). */
  name: string;
  /** Compression method: 0 stored, 8 deflated (others are rejected on read). */
  method: number;
  /** General-purpose flags (bit 0: encrypted, bit 11: UTF-8 name). */
  flags: number;
  /** CRC-32 of the uncompressed data. */
  crc32: number;
  /** Bytes stored in the archive. */
  compressedSize: number;
  /** Bytes after decompression. */
  size: number;
  /** Byte offset of the entry's local header in the archive. */
  localHeaderOffset: number;
}

/**
 * An opened zip archive; read entries with {@link ZipArchive.read} and release it with `close()`.
 *
 * @example
 * ```ts
 * const zip: ZipArchive = await openZip('model.pt');
 * const bytes = await zip.read('model/data.pkl');
 * await zip.close();
 * ```
 */
export interface ZipArchive {
  /** The archive's name (path or label) used in error messages. */
  readonly file: string;
  /** Every entry in central-directory order. */
  readonly entries: readonly ZipEntry[];
  /** Looks an entry up by exact name. */
  entry(name: string): ZipEntry | undefined;
  /** Reads, decompresses and CRC-checks one entry; throws {@link CheckpointFormatError} when absent or corrupt. */
  read(entry: string | ZipEntry): Promise<Uint8Array>;
  /** Releases the underlying file handle. */
  close(): Promise<void>;
}

/**
 * Options of {@link readZip}, {@link openZip} and {@link parseZip}.
 *
 * @example
 * ```ts
 * const zip = await openZip('model.pt', { verifyCrc: false }); // skip CRC-32 checks on trusted files
 * ```
 */
export interface ZipOptions {
  /** Verify each entry's CRC-32 on read (default true). */
  verifyCrc?: boolean;
}

const CRC_TABLES: Uint32Array[] = (() => {
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  const tables = [t0];
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1]!;
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) t[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
    tables.push(t);
  }
  return tables;
})();

/**
 * CRC-32 (IEEE 802.3, as zip uses) of a byte array, table-driven eight bytes at a time.
 *
 * @param data bytes to checksum
 * @param crc  running value to continue from (default 0)
 * @example
 * ```ts
 * crc32(new TextEncoder().encode('123456789')).toString(16); // 'cbf43926'
 * ```
 */
export function crc32(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array,
    Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~crc >>> 0;
  let i = 0;
  const n8 = data.length - (data.length % 8);
  for (; i < n8; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Little-endian field reader over a chunk that starts at absolute byte `base` of the archive. */
class Fields {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly base: number, private readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(detail: string, at: number): never {
    throw new CheckpointFormatError(`zip: ${detail}`, { file: this.file, offset: this.base + at });
  }
  need(at: number, n: number, what: string): void {
    if (at < 0 || at + n > this.bytes.length) this.fail(`${what} is cut off`, at);
  }
  u16(at: number): number {
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  u64(at: number, what: string): number {
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`, at);
    return Number(v);
  }
}

interface Directory {
  count: number;
  offset: number;
  size: number;
  /** Absolute offset of the (zip64) end record: the central directory must end at or before it. */
  end: number;
}

async function findDirectory(src: ByteSource): Promise<Directory> {
  if (src.size < EOCD_SIZE) {
    throw new CheckpointFormatError(`zip: ${src.size} bytes is too small for a zip archive`, { file: src.name, offset: 0 });
  }
  const tailLen = Math.min(src.size, EOCD_SIZE + MAX_COMMENT + 20);
  const base = src.size - tailLen;
  const f = new Fields(await src.read(base, tailLen), base, src.name);
  let at = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (f.u32(i) === SIG_EOCD && i + EOCD_SIZE + f.u16(i + 20) === tailLen) {
      at = i;
      break;
    }
  }
  if (at < 0) f.fail('no end-of-central-directory record (not a zip file, or truncated)', tailLen);
  if (f.u16(at + 4) !== 0 || f.u16(at + 6) !== 0) f.fail('multi-disk archives are not supported', at);
  const dir: Directory = { count: f.u16(at + 10), size: f.u32(at + 12), offset: f.u32(at + 16), end: base + at };
  if (at >= 20 && f.u32(at - 20) === SIG_ZIP64_LOCATOR) {
    const recAt = f.u64(at - 20 + 8, 'zip64 end record offset');
    if (recAt + 56 > base + at - 20) f.fail(`zip64 end record offset ${recAt} is out of range`, at - 20 + 8);
    const z = new Fields(await src.read(recAt, 56), recAt, src.name);
    if (z.u32(0) !== SIG_ZIP64_EOCD) z.fail('bad zip64 end-of-central-directory signature', 0);
    if (z.u32(16) !== 0 || z.u32(20) !== 0) z.fail('multi-disk archives are not supported', 16);
    dir.count = z.u64(32, 'zip64 entry count');
    dir.size = z.u64(40, 'zip64 central directory size');
    dir.offset = z.u64(48, 'zip64 central directory offset');
    dir.end = recAt;
  }
  if (dir.offset + dir.size > dir.end) {
    f.fail(`central directory (offset ${dir.offset}, ${dir.size} bytes) overlaps its end record at ${dir.end}`, at);
  }
  if (dir.count * CENTRAL_SIZE > dir.size) f.fail(`${dir.count} entries cannot fit in a ${dir.size}-byte directory`, at);
  return dir;
}

function zip64Extra(f: Fields, at: number, len: number, e: ZipEntry, diskIs64: boolean): void {
  const end = at + len;
  while (at + 4 <= end) {
    const id = f.u16(at);
    const size = f.u16(at + 2);
    if (at + 4 + size > end) f.fail(`extra field of entry "${e.name}" runs past its end`, at);
    if (id === 0x0001) {
      let p = at + 4;
      const take = (what: string): number => {
        if (p + 8 > at + 4 + size) f.fail(`zip64 extra field of entry "${e.name}" lacks the ${what}`, p);
        const v = f.u64(p, `${what} of entry "${e.name}"`);
        p += 8;
        return v;
      };
      if (e.size === 0xffffffff) e.size = take('size');
      if (e.compressedSize === 0xffffffff) e.compressedSize = take('compressed size');
      if (e.localHeaderOffset === 0xffffffff) e.localHeaderOffset = take('local header offset');
      if (diskIs64 && p + 4 > at + 4 + size) f.fail(`zip64 extra field of entry "${e.name}" lacks the disk`, p);
      return;
    }
    at += 4 + size;
  }
}

function decodeName(bytes: Uint8Array, utf8: boolean): string {
  if (utf8) return new TextDecoder('utf-8').decode(bytes);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function parseDirectory(f: Fields, dir: Directory): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < dir.count; i++) {
    f.need(at, CENTRAL_SIZE, `central directory entry ${i}`);
    if (f.u32(at) !== SIG_CENTRAL) f.fail(`bad central directory signature for entry ${i}`, at);
    const nameLen = f.u16(at + 28);
    const extraLen = f.u16(at + 30);
    const commentLen = f.u16(at + 32);
    f.need(at + CENTRAL_SIZE, nameLen + extraLen + commentLen, `name/extra of central directory entry ${i}`);
    const flags = f.u16(at + 8);
    const e: ZipEntry = {
      name: decodeName(f.bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLen), (flags & 0x800) !== 0),
      method: f.u16(at + 10),
      flags,
      crc32: f.u32(at + 16),
      compressedSize: f.u32(at + 20),
      size: f.u32(at + 24),
      localHeaderOffset: f.u32(at + 42),
    };
    const disk = f.u16(at + 34);
    zip64Extra(f, at + CENTRAL_SIZE + nameLen, extraLen, e, disk === 0xffff);
    if (disk !== 0 && disk !== 0xffff) f.fail(`entry "${e.name}" is on another disk`, at + 34);
    if (e.name === '') f.fail(`entry ${i} has an empty name`, at);
    if (e.localHeaderOffset + LOCAL_SIZE > dir.offset) {
      f.fail(`local header offset ${e.localHeaderOffset} of "${e.name}" is past the central directory`, at + 42);
    }
    entries.push(e);
    at += CENTRAL_SIZE + nameLen + extraLen + commentLen;
  }
  return entries;
}

class Archive implements ZipArchive {
  private readonly byName = new Map<string, ZipEntry>();
  constructor(
    private readonly src: ByteSource,
    readonly entries: readonly ZipEntry[],
    private readonly dirOffset: number,
    private readonly verifyCrc: boolean,
  ) {
    for (const e of entries) {
      if (this.byName.has(e.name)) {
        throw new CheckpointFormatError(`zip: duplicate entry "${e.name}"`, { file: src.name, offset: e.localHeaderOffset });
      }
      this.byName.set(e.name, e);
    }
  }
  get file(): string {
    return this.src.name;
  }
  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  async read(which: string | ZipEntry): Promise<Uint8Array> {
    const e = typeof which === 'string' ? this.byName.get(which) : which;
    const fail = (detail: string, offset: number): never => {
      throw new CheckpointFormatError(`zip entry "${e?.name ?? String(which)}": ${detail}`, { file: this.file, offset });
    };
    if (!e) return fail('no such entry', this.dirOffset);
    if (e.flags & 1) fail('encrypted entries are not supported', e.localHeaderOffset);
    if (e.method !== 0 && e.method !== 8) fail(`unsupported compression method ${e.method}`, e.localHeaderOffset);
    const lh = new Fields(await this.src.read(e.localHeaderOffset, LOCAL_SIZE), e.localHeaderOffset, this.file);
    if (lh.u32(0) !== SIG_LOCAL) fail('bad local header signature', e.localHeaderOffset);
    const nameLen = lh.u16(26);
    const dataAt = e.localHeaderOffset + LOCAL_SIZE + nameLen + lh.u16(28);
    if (dataAt + e.compressedSize > this.dirOffset) {
      fail(`data (${e.compressedSize} bytes at ${dataAt}) runs into the central directory at ${this.dirOffset}`, dataAt);
    }
    const localName = await this.src.read(e.localHeaderOffset + LOCAL_SIZE, nameLen);
    if (decodeName(localName, (e.flags & 0x800) !== 0) !== e.name) {
      fail('local header names a different entry', e.localHeaderOffset + LOCAL_SIZE);
    }
    if (e.method === 0) {
      if (e.compressedSize !== e.size) fail(`stored entry sizes differ (${e.compressedSize} vs ${e.size})`, dataAt);
      const data = await this.src.read(dataAt, e.compressedSize);
      if (this.verifyCrc && crc32(data) !== e.crc32) fail('CRC-32 mismatch (corrupt data)', dataAt);
      return data;
    }
    if (e.size > bufferConstants.MAX_LENGTH) fail(`declared size ${e.size} exceeds this runtime's buffer limit`, dataAt);
    if (e.size > e.compressedSize * MAX_DEFLATE_RATIO + 64) {
      fail(`declares ${e.size} bytes from ${e.compressedSize} compressed bytes, more than deflate can expand to`, dataAt);
    }
    const { data, crc } = await this.inflate(dataAt, e, fail);
    if (this.verifyCrc && crc !== e.crc32) fail('CRC-32 mismatch (corrupt data)', dataAt);
    return data;
  }

  /** Inflates a record chunk by chunk into its declared size; output past that size stops the inflation at once. */
  private async inflate(dataAt: number, e: ZipEntry, fail: (detail: string, offset: number) => never): Promise<{ data: Uint8Array; crc: number }> {
    const out = new Uint8Array(e.size);
    let n = 0;
    let crc = 0;
    let over = false;
    const src = this.src;
    try {
      await pipeline(
        async function* () {
          for (let off = 0; off < e.compressedSize; off += INFLATE_CHUNK) yield src.read(dataAt + off, Math.min(INFLATE_CHUNK, e.compressedSize - off));
        },
        createInflateRaw(),
        async (chunks: AsyncIterable<Buffer>) => {
          for await (const c of chunks) {
            if (n + c.length > e.size) {
              over = true;
              throw new RangeError('inflated past the declared size');
            }
            out.set(c, n);
            n += c.length;
            crc = crc32(c, crc);
          }
        },
      );
    } catch (err) {
      if (over) fail(`inflates to more than its declared ${e.size} bytes (stopped there)`, dataAt);
      fail(`deflate data is corrupt (${(err as Error).message})`, dataAt);
    }
    if (n !== e.size) fail(`inflated to ${n} bytes, ${e.size} declared`, dataAt);
    return { data: out, crc };
  }

  close(): Promise<void> {
    return this.src.close();
  }
}

/**
 * Reads a zip archive's directory from any {@link ByteSource}; entries are read later, on demand.
 *
 * @param src     the archive bytes (a file or memory); closed by the archive's `close()`
 * @param options see {@link ZipOptions}
 * @example
 * ```ts
 * const zip = await readZip(await openFileSource('model.ckpt'));
 * zip.entries.map((e) => e.name); // ['model/data.pkl', 'model/data/0', ...]
 * ```
 */
export async function readZip(src: ByteSource, options: ZipOptions = {}): Promise<ZipArchive> {
  const dir = await findDirectory(src);
  const f = new Fields(await src.read(dir.offset, dir.size), dir.offset, src.name);
  return new Archive(src, parseDirectory(f, dir), dir.offset, options.verifyCrc ?? true);
}

/**
 * Opens a zip file for lazy per-entry reads (the file is never read whole).
 *
 * @param path    the archive (never modified)
 * @param options see {@link ZipOptions}
 * @example
 * ```ts
 * const zip = await openZip('v1-5-pruned.ckpt');
 * const pkl = await zip.read('v1-5-pruned/data.pkl');
 * await zip.close();
 * ```
 */
export async function openZip(path: string, options: ZipOptions = {}): Promise<ZipArchive> {
  const src = await openFileSource(path);
  try {
    return await readZip(src, options);
  } catch (err) {
    await src.close();
    throw err;
  }
}

/**
 * Opens a zip archive held in memory.
 *
 * @param bytes   the archive
 * @param name    label for error messages
 * @param options see {@link ZipOptions}
 * @example
 * ```ts
 * const zip = await parseZip(bytes, 'upload.pt');
 * const version = new TextDecoder().decode(await zip.read('upload/version')); // '3\n'
 * ```
 */
export function parseZip(bytes: Uint8Array, name = '<buffer>', options: ZipOptions = {}): Promise<ZipArchive> {
  return readZip(bufferSource(bytes, name), options);
}
