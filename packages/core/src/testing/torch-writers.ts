/**
 * Test support: hand-assembling pickles, zip archives and PyTorch checkpoints byte by byte, following the
 * formats' specifications (CPython `pickletools`, PKWARE APPNOTE, `torch/serialization.py`), so reader tests and
 * fuzzers can build small valid files without Python.
 * @module
 */
import { deflateRawSync } from 'node:zlib';
import { crc32 } from '../io/zip.js';

/**
 * Emits pickle opcodes one call at a time.
 *
 * @example
 * ```ts
 * const bytes = new PickleWriter().proto(2).int(7).stop().bytes(); // 80 02 4b 07 2e
 * ```
 */
export class PickleWriter {
  private readonly out: number[] = [];
  /** Raw bytes. */
  raw(...b: number[]): this {
    for (const x of b) this.out.push(x & 0xff);
    return this;
  }
  /** Raw bytes from an array (no argument spreading, so any size works). */
  data(b: Uint8Array): this {
    for (const x of b) this.out.push(x);
    return this;
  }
  private le(v: number, n: number): this {
    for (let i = 0; i < n; i++) this.out.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
    return this;
  }
  private text(s: string): this {
    return this.data(new TextEncoder().encode(s));
  }
  proto(v: number): this { return this.raw(0x80, v); }
  stop(): this { return this.raw(0x2e); }
  mark(): this { return this.raw(0x28); }
  none(): this { return this.raw(0x4e); }
  bool(v: boolean): this { return this.raw(v ? 0x88 : 0x89); }
  /** BININT1 / BININT2 / BININT by size. */
  int(v: number): this {
    if (v >= 0 && v < 256) return this.raw(0x4b, v);
    if (v >= 0 && v < 65536) return this.raw(0x4d).le(v, 2);
    return this.raw(0x4a).le(v >>> 0, 4);
  }
  /** BINUNICODE (4-byte length). */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.raw(0x58).le(b.length, 4).data(b);
  }
  /** SHORT_BINUNICODE (1-byte length). */
  shortStr(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.raw(0x8c, b.length).data(b);
  }
  /** BINBYTES. */
  binBytes(b: Uint8Array): this { return this.raw(0x42).le(b.length, 4).data(b); }
  global(module: string, name: string): this { return this.raw(0x63).text(`${module}\n${name}\n`); }
  put(i: number): this { return i < 256 ? this.raw(0x71, i) : this.raw(0x72).le(i, 4); }
  get(i: number): this { return i < 256 ? this.raw(0x68, i) : this.raw(0x6a).le(i, 4); }
  emptyTuple(): this { return this.raw(0x29); }
  tuple(): this { return this.raw(0x74); }
  tuple1(): this { return this.raw(0x85); }
  tuple2(): this { return this.raw(0x86); }
  emptyDict(): this { return this.raw(0x7d); }
  emptyList(): this { return this.raw(0x5d); }
  setitem(): this { return this.raw(0x73); }
  setitems(): this { return this.raw(0x75); }
  appends(): this { return this.raw(0x65); }
  reduce(): this { return this.raw(0x52); }
  build(): this { return this.raw(0x62); }
  newobj(): this { return this.raw(0x81); }
  binpersid(): this { return this.raw(0x51); }
  /** The bytes written so far. */
  bytes(): Uint8Array { return Uint8Array.from(this.out); }
}

/**
 * One tensor of a hand-built state dict: a view into storage `key`.
 *
 * @example
 * ```ts
 * const t: TensorSpec = { name: 'w', key: '0', cls: 'FloatStorage', numel: 6, offset: 0, shape: [2, 3], stride: [3, 1] };
 * ```
 */
export interface TensorSpec {
  name: string;
  key: string;
  /** Storage class name (`FloatStorage`, `HalfStorage`, ...). */
  cls: string;
  /** Storage element count. */
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
}

/**
 * A protocol-2 pickle of `OrderedDict(name → tensor)` as `torch.save` writes it: each tensor is
 * `_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`.
 *
 * @param tensors the entries
 * @param legacy  persistent ids get the legacy sixth field (`view_metadata = None`)
 * @example
 * ```ts
 * stateDictPickle([{ name: 'w', key: '0', cls: 'FloatStorage', numel: 6, offset: 0, shape: [2, 3], stride: [3, 1] }]);
 * ```
 */
export function stateDictPickle(tensors: readonly TensorSpec[], legacy = false): Uint8Array {
  const w = new PickleWriter().proto(2).global('collections', 'OrderedDict').put(0).emptyTuple().reduce().put(1).mark();
  for (const t of tensors) {
    w.str(t.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', t.cls).str(t.key).str('cpu').int(t.numel);
    if (legacy) w.none();
    w.tuple().binpersid().int(t.offset);
    w.mark();
    for (const d of t.shape) w.int(d);
    w.tuple().mark();
    for (const s of t.stride) w.int(s);
    w.tuple().bool(false).get(0).emptyTuple().reduce().tuple().reduce();
  }
  return w.setitems().stop().bytes();
}

/**
 * One zip record to write.
 *
 * @example
 * ```ts
 * const e: ZipSpec = { name: 'm/data/0', data: bytes, method: 8 };
 * ```
 */
export interface ZipSpec {
  name: string;
  data: Uint8Array;
  /** 0 stored (default), 8 deflated. */
  method?: 0 | 8;
}

/**
 * Writes a zip archive (local headers, data, central directory, end record). With `zip64`, sizes and offsets go
 * into zip64 extra fields and a zip64 end record + locator are written, as writers do past 4 GiB.
 *
 * @param entries records in order
 * @param opts    `zip64`: force the zip64 layout; `comment`: archive comment; `base`: the bytes will be written at
 *                this file offset (all recorded offsets shift by it; the bytes before are left to the caller)
 * @example
 * ```ts
 * const zip = buildZip([{ name: 'a/b.txt', data: new TextEncoder().encode('hi') }]);
 * ```
 */
export function buildZip(entries: readonly ZipSpec[], opts: { zip64?: boolean; comment?: string; base?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = opts.base ?? 0;
  const z64 = opts.zip64 ?? false;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const body = e.method === 8 ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, z64 ? 45 : 20, true);
    local.setUint16(8, e.method ?? 0, true);
    local.setUint32(14, crc32(e.data), true);
    local.setUint32(18, body.length, true);
    local.setUint32(22, e.data.length, true);
    local.setUint16(26, name.length, true);
    parts.push(new Uint8Array(local.buffer), name, body);
    const extra = new DataView(new ArrayBuffer(z64 ? 28 : 0));
    if (z64) {
      extra.setUint16(0, 0x0001, true);
      extra.setUint16(2, 24, true);
      extra.setBigUint64(4, BigInt(e.data.length), true);
      extra.setBigUint64(12, BigInt(body.length), true);
      extra.setBigUint64(20, BigInt(offset), true);
    }
    const c = new DataView(new ArrayBuffer(46));
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 45, true);
    c.setUint16(6, z64 ? 45 : 20, true);
    c.setUint16(10, e.method ?? 0, true);
    c.setUint32(16, crc32(e.data), true);
    c.setUint32(20, z64 ? 0xffffffff : body.length, true);
    c.setUint32(24, z64 ? 0xffffffff : e.data.length, true);
    c.setUint16(28, name.length, true);
    c.setUint16(30, extra.byteLength, true);
    c.setUint32(42, z64 ? 0xffffffff : offset, true);
    central.push(new Uint8Array(c.buffer), name, new Uint8Array(extra.buffer));
    offset += 30 + name.length + body.length;
  }
  const cdSize = central.reduce((a, b) => a + b.length, 0);
  const tail: Uint8Array[] = [];
  if (z64) {
    const rec = new DataView(new ArrayBuffer(56));
    rec.setUint32(0, 0x06064b50, true);
    rec.setBigUint64(4, 44n, true);
    rec.setUint16(12, 45, true);
    rec.setUint16(14, 45, true);
    rec.setBigUint64(24, BigInt(entries.length), true);
    rec.setBigUint64(32, BigInt(entries.length), true);
    rec.setBigUint64(40, BigInt(cdSize), true);
    rec.setBigUint64(48, BigInt(offset), true);
    const loc = new DataView(new ArrayBuffer(20));
    loc.setUint32(0, 0x07064b50, true);
    loc.setBigUint64(8, BigInt(offset + cdSize), true);
    loc.setUint32(16, 1, true);
    tail.push(new Uint8Array(rec.buffer), new Uint8Array(loc.buffer));
  }
  const comment = new TextEncoder().encode(opts.comment ?? '');
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, z64 ? 0xffff : entries.length, true);
  end.setUint16(10, z64 ? 0xffff : entries.length, true);
  end.setUint32(12, z64 ? 0xffffffff : cdSize, true);
  end.setUint32(16, z64 ? 0xffffffff : offset, true);
  end.setUint16(20, comment.length, true);
  return concat([...parts, ...central, ...tail, new Uint8Array(end.buffer), comment]);
}

/**
 * Concatenates byte arrays.
 *
 * @example
 * ```ts
 * concat([new Uint8Array([1]), new Uint8Array([2])]); // Uint8Array [1, 2]
 * ```
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A zip checkpoint as `torch.save` writes it: `<prefix>/data.pkl`, `<prefix>/data/<key>` records, `<prefix>/version`.
 *
 * @param prefix   the archive folder
 * @param pickle   the data.pkl bytes
 * @param storages storage bytes by key
 * @param opts     `deflate`: compress the storages; `byteorder`: write a `<prefix>/byteorder` record
 * @example
 * ```ts
 * const ckpt = torchZip('model', stateDictPickle(specs), new Map([['0', bytes]]));
 * ```
 */
export function torchZip(
  prefix: string, pickle: Uint8Array, storages: ReadonlyMap<string, Uint8Array>,
  opts: { deflate?: boolean; byteorder?: string; zip64?: boolean } = {},
): Uint8Array {
  const entries: ZipSpec[] = [{ name: `${prefix}/data.pkl`, data: pickle }];
  if (opts.byteorder) entries.push({ name: `${prefix}/byteorder`, data: new TextEncoder().encode(opts.byteorder) });
  for (const [key, data] of storages) entries.push({ name: `${prefix}/data/${key}`, data, method: opts.deflate ? 8 : 0 });
  entries.push({ name: `${prefix}/version`, data: new TextEncoder().encode('3\n') });
  return buildZip(entries, { zip64: opts.zip64 ?? false });
}

/**
 * A legacy torch.save: magic, protocol and sys_info pickles, the object pickle, the key list, then per key an
 * int64 element count and the bytes.
 *
 * @param objectPickle the object pickle (persistent ids with six fields)
 * @param storages     storage bytes and element counts by key, in write order
 * @example
 * ```ts
 * legacyTorchSave(stateDictPickle(specs, true), new Map([['k', { numel: 6, bytes }]]));
 * ```
 */
export function legacyTorchSave(objectPickle: Uint8Array, storages: ReadonlyMap<string, { numel: number; bytes: Uint8Array }>): Uint8Array {
  const magic = new PickleWriter().proto(2).raw(0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop().bytes();
  const proto = new PickleWriter().proto(2).int(1001).stop().bytes();
  const sys = new PickleWriter().proto(2).emptyDict().mark().str('protocol_version').int(1001)
    .str('little_endian').bool(true).setitems().stop().bytes();
  const keys = new PickleWriter().proto(2).emptyList().mark();
  for (const k of storages.keys()) keys.str(k);
  const parts = [magic, proto, sys, objectPickle, keys.appends().stop().bytes()];
  for (const { numel, bytes } of storages.values()) {
    const n = new DataView(new ArrayBuffer(8));
    n.setBigInt64(0, BigInt(numel), true);
    parts.push(new Uint8Array(n.buffer), bytes);
  }
  return concat(parts);
}
