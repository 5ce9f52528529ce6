/**
 * Legacy `torch.save` (`_use_new_zipfile_serialization=False`, the only format before PyTorch 1.6): five pickles
 * back to back (magic number, protocol version, sys_info, the object, the storage-key list), then for every key
 * in list order an int64 little-endian element count and the storage's raw little-endian bytes. The same layout
 * is nested inside NVLabs pickles through `torch.storage._load_from_bytes(bytes)`.
 * @module
 */
import { CheckpointFormatError } from '../errors.js';
import { DTYPE_SIZE, type DType } from './dtype.js';
import type { ByteSource } from './file-source.js';
import { describeValue, PickleGlobal, PickleTruncatedError, unpickleAt, type CallContext, type PickleLimits } from './pickle.js';
import { parseStoragePid, torchGlobals } from './torch-globals.js';
import { TorchStorage } from './torch-tensors.js';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
const MAX_NESTING = 3;
const FIRST_WINDOW = 1 << 24;

/**
 * Shared state of one checkpoint read: error label, limits and the operation budget of all nested pickles.
 *
 * @example
 * ```ts
 * const ctx: LegacyContext = { file: 'old.pth', budget: { opsLeft: 50_000_000 }, depth: 0 };
 * ```
 */
export interface LegacyContext {
  file: string;
  limits?: Partial<PickleLimits> | undefined;
  budget: { opsLeft: number };
  /** How many `_load_from_bytes` levels deep this parse is. */
  depth: number;
}

interface Slot {
  key: string;
  dtype: DType;
  numel: number;
  /** Absolute offset of the storage bytes, known once the key list is walked (-1 before). */
  offset: number;
  storage: TorchStorage;
}

interface LegacyHeader {
  object: unknown;
  keys: string[];
  slots: Map<string, Slot>;
  dataStart: number;
}

/**
 * Whether `head` (the first bytes of a file) starts a legacy torch.save: PROTO 2 then the LONG1 magic number.
 *
 * @param head at least the first 14 bytes
 * @example
 * ```ts
 * isLegacyTorchSave(firstBytes); // true for pre-1.6 .pt files
 * ```
 */
export function isLegacyTorchSave(head: Uint8Array): boolean {
  const sig = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  return head.length >= 14 && head[0] === 0x80 && sig.every((b, i) => head[2 + i] === b);
}

/**
 * Builds the `torch.storage._load_from_bytes` implementation for pickles read under `ctx`: each payload is parsed
 * as a nested legacy torch.save (at most three levels deep) sharing the operation budget.
 *
 * @param ctx the enclosing read's context
 * @example
 * ```ts
 * unpickle(pkl, { resolveGlobal: torchGlobals({ loadFromBytes: loadFromBytesIn(ctx) }) });
 * ```
 */
export function loadFromBytesIn(ctx: LegacyContext): (bytes: Uint8Array, call: CallContext) => unknown {
  return (bytes, call) => {
    if (ctx.depth >= MAX_NESTING) call.fail(`torch.storage._load_from_bytes nested more than ${MAX_NESTING} deep`);
    return legacyFromBytes(bytes, { ...ctx, file: `${ctx.file} (nested torch.save)`, depth: ctx.depth + 1 }).object;
  };
}

type ReadAt = (offset: number, n: number) => Promise<Uint8Array>;

/** The persistent-id resolver of a legacy object pickle: storages by key (and legacy views of them). */
function storageResolver(ctx: LegacyContext, slots: Map<string, Slot>, readAt: ReadAt) {
  const views = new Map<string, TorchStorage>();
  const readSlot = (s: Slot): Promise<Uint8Array> => (s.offset < 0
    ? Promise.reject(new CheckpointFormatError(`storage "${s.key}" has no data`, { file: ctx.file }))
    : readAt(s.offset, s.numel * DTYPE_SIZE[s.dtype]));
  return (pid: unknown, call: CallContext): unknown => {
    if (Array.isArray(pid) && pid[0] === 'module') {
      return pid[1] instanceof PickleGlobal ? pid[1] : call.fail(`module persistent id names ${describeValue(pid[1])}`);
    }
    const p = parseStoragePid(pid, call);
    let slot = slots.get(p.key);
    if (!slot) {
      const s = { key: p.key, dtype: p.dtype, numel: p.numel, offset: -1 } as Slot;
      s.storage = new TorchStorage({ ...p, where: ctx.file, read: () => readSlot(s) });
      slots.set(p.key, (slot = s));
    } else if (slot.dtype !== p.dtype || slot.numel !== p.numel) {
      call.fail(`storage "${p.key}" is named as ${p.numel} ${p.dtype} and as ${slot.numel} ${slot.dtype}`);
    }
    const v = p.view;
    if (!v) return slot.storage;
    if (v.offset + v.numel > slot.numel) call.fail(`view ${v.key} (offset ${v.offset}, ${v.numel} elements) exceeds storage "${p.key}"`);
    let view = views.get(v.key);
    if (!view) {
      const root = slot.storage;
      const es = DTYPE_SIZE[p.dtype];
      view = new TorchStorage({
        dtype: p.dtype, numel: v.numel, key: v.key, location: p.location, where: ctx.file,
        read: async () => (await root.read()).subarray(v.offset * es, (v.offset + v.numel) * es),
      });
      views.set(v.key, view);
    }
    return view;
  };
}

function parseHeader(bytes: Uint8Array, ctx: LegacyContext, readAt: ReadAt): LegacyHeader {
  const slots = new Map<string, Slot>();
  const base = { file: ctx.file, limits: ctx.limits, budget: ctx.budget };
  const fail = (detail: string, offset: number): never => {
    throw new CheckpointFormatError(`legacy torch.save: ${detail}`, { file: ctx.file, offset });
  };
  const magic = unpickleAt(bytes, 0, base);
  if (magic.value !== LEGACY_MAGIC) fail(`bad magic number ${describeValue(magic.value)}`, 0);
  const proto = unpickleAt(bytes, magic.end, base);
  if (proto.value !== LEGACY_PROTOCOL) fail(`unsupported protocol version ${describeValue(proto.value)}`, magic.end);
  const sysInfo = unpickleAt(bytes, proto.end, base); // endianness and type sizes: storages are always little-endian
  const persistentLoad = storageResolver(ctx, slots, readAt);
  const resolveGlobal = torchGlobals({ loadFromBytes: loadFromBytesIn(ctx) });
  const obj = unpickleAt(bytes, sysInfo.end, { ...base, persistentLoad, resolveGlobal });
  const keyList = unpickleAt(bytes, obj.end, base);
  if (!Array.isArray(keyList.value)) fail(`storage key list is ${describeValue(keyList.value)}`, obj.end);
  const keys = (keyList.value as unknown[]).map((k) => (typeof k === 'string' || typeof k === 'number' ? String(k) : fail(`storage key ${describeValue(k)}`, obj.end)));
  return { object: obj.value, keys, slots, dataStart: keyList.end };
}

/**
 * Assigns each listed storage its data offset (they follow each other in key-list order, each after an 8-byte
 * count) and returns where those counts are, for the caller to verify.
 */
function placeStorages(h: LegacyHeader, size: number, file: string): { pos: number; slot: Slot }[] {
  const counts: { pos: number; slot: Slot }[] = [];
  let pos = h.dataStart;
  for (const key of h.keys) {
    const fail = (detail: string): never => {
      throw new CheckpointFormatError(`legacy torch.save: storage "${key}": ${detail}`, { file, offset: pos });
    };
    const slot = h.slots.get(key) ?? fail('is listed but no tensor uses it');
    if (slot.offset >= 0) fail('is listed twice');
    if (pos + 8 > size) fail('element count is cut off');
    counts.push({ pos, slot });
    slot.offset = pos + 8;
    pos = slot.offset + slot.numel * DTYPE_SIZE[slot.dtype];
    if (pos > size) fail(`its ${slot.numel * DTYPE_SIZE[slot.dtype]} bytes run past the end (${size} bytes)`);
  }
  for (const slot of h.slots.values()) {
    if (slot.offset < 0) throw new CheckpointFormatError(`legacy torch.save: storage "${slot.key}" is used but not listed`, { file, offset: pos });
  }
  return counts;
}

function checkCount(n: bigint, c: { pos: number; slot: Slot }, file: string): void {
  if (n !== BigInt(c.slot.numel)) {
    throw new CheckpointFormatError(
      `legacy torch.save: storage "${c.slot.key}" holds ${n} elements, but the object pickle declares ${c.slot.numel}`,
      { file, offset: c.pos },
    );
  }
}

/**
 * The object of a legacy torch.save (tensors inside are lazy `TorchTensor` views over its storages).
 *
 * @example
 * ```ts
 * const { object }: LegacyResult = legacyFromBytes(blob, ctx);
 * ```
 */
export interface LegacyResult {
  object: unknown;
}

/**
 * Parses a legacy torch.save held in memory (e.g. a `_load_from_bytes` payload). Synchronous: the storages
 * are located immediately and read from `bytes` on demand.
 *
 * @param bytes the torch.save bytes
 * @param ctx   see {@link LegacyContext}
 * @example
 * ```ts
 * const { object } = legacyFromBytes(blob, { file: 'blob', budget: { opsLeft: 1e6 }, depth: 0 });
 * ```
 */
export function legacyFromBytes(bytes: Uint8Array, ctx: LegacyContext): LegacyResult {
  const readAt: ReadAt = (offset, n) => Promise.resolve(bytes.subarray(offset, offset + n));
  const h = parseHeader(bytes, ctx, readAt);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const c of placeStorages(h, bytes.length, ctx.file)) checkCount(view.getBigInt64(c.pos, true), c, ctx.file);
  return { object: h.object };
}

/**
 * Reads a legacy torch.save from a byte source: only the pickles (a window at the start, grown while they run
 * past it) and one 8-byte count per storage are read now; storage bytes are read when tensors are materialized.
 *
 * @param src the file
 * @param ctx see {@link LegacyContext}
 * @example
 * ```ts
 * const { object } = await readLegacy(await openFileSource('old.pth'), { file: 'old.pth', budget: { opsLeft: 5e7 }, depth: 0 });
 * ```
 */
export async function readLegacy(src: ByteSource, ctx: LegacyContext): Promise<LegacyResult> {
  const readAt: ReadAt = (offset, n) => src.read(offset, n);
  let win = Math.min(src.size, FIRST_WINDOW);
  let h: LegacyHeader;
  for (;;) {
    const budget = { opsLeft: ctx.budget.opsLeft };
    try {
      h = parseHeader(await src.read(0, win), { ...ctx, budget }, readAt);
      ctx.budget.opsLeft = budget.opsLeft;
      break;
    } catch (e) {
      if (win >= src.size || !(e instanceof PickleTruncatedError)) throw e;
      win = Math.min(src.size, win * 4);
    }
  }
  for (const c of placeStorages(h, src.size, ctx.file)) {
    const b = await src.read(c.pos, 8);
    checkCount(new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true), c, ctx.file);
  }
  return { object: h.object };
}
