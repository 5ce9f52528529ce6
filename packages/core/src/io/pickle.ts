/**
 * A data-only unpickler (protocols 0-5). It builds plain JS values and never imports or runs anything: GLOBAL
 * names resolve only through a fixed table of re-implemented constructors ({@link builtinGlobal} plus a
 * caller's {@link GlobalResolver}); every other call or instance becomes an inert {@link PickleObject}.
 * Persistent ids go to a caller's callback. Every length is checked against the remaining bytes before
 * anything is allocated, and operation / stack / memo counts are bounded.
 * @module
 */
import { CheckpointFormatError } from '../errors.js';
import {
  decodeLong, decodeRawUnicodeEscape, decodeStringRepr, decodeUtf8, OPCODE_NAMES, parseDecimal, parseFloatText, pyInt,
} from './pickle-ops.js';
import {
  builtinGlobal, describeValue, NEWOBJ_CONTAINERS, PickleGlobal, PickleObject,
  type CallContext, type GlobalResolver,
} from './pickle-values.js';

export { PickleGlobal, PickleObject, isTuple, describeValue } from './pickle-values.js';
export type { CallContext, GlobalResolver, PickleCallable } from './pickle-values.js';

/**
 * The pickle data ended (or an argument ran past its end): a larger read of the same file may succeed.
 *
 * @example
 * ```ts
 * try { unpickle(firstMiB); } catch (e) { if (e instanceof PickleTruncatedError) readMore(); }
 * ```
 */
export class PickleTruncatedError extends CheckpointFormatError {}

/**
 * Bounds on the work one unpickle may do (a corrupt or hostile file fails fast instead of exhausting memory).
 *
 * @example
 * ```ts
 * unpickle(bytes, { limits: { maxOps: 1_000_000 } });
 * ```
 */
export interface PickleLimits {
  /** Opcodes executed, shared with nested unpickles through {@link UnpickleOptions.budget} (default 50 million). */
  maxOps: number;
  /** Values on the stack at once (default 10 million). */
  maxStack: number;
  /** Memo entries (default 10 million). */
  maxMemo: number;
}

/**
 * Default {@link PickleLimits}.
 *
 * @example
 * ```ts
 * DEFAULT_PICKLE_LIMITS.maxOps; // 50000000
 * ```
 */
export const DEFAULT_PICKLE_LIMITS: Readonly<PickleLimits> = Object.freeze({
  maxOps: 50_000_000, maxStack: 10_000_000, maxMemo: 10_000_000,
});

/**
 * Options of {@link unpickle} / {@link unpickleAt}.
 *
 * @example
 * ```ts
 * const opts: UnpickleOptions = { file: 'a.pt [a/data.pkl]', persistentLoad: (pid) => storages.get(pid), resolveGlobal: torchGlobals() };
 * ```
 */
export interface UnpickleOptions {
  /** Name for error messages (file, or `file [record]`). */
  file?: string;
  /** Added to reported byte offsets (where the pickle starts inside `file`). */
  baseOffset?: number;
  /** Resolves a persistent id (PERSID / BINPERSID); without it, a persistent id is an error. */
  persistentLoad?: (pid: unknown, ctx: CallContext) => unknown;
  /** Extra known callables, consulted before the built-in table. */
  resolveGlobal?: GlobalResolver;
  /** Limits (merged over {@link DEFAULT_PICKLE_LIMITS}). */
  limits?: Partial<PickleLimits>;
  /** Operation budget shared by nested unpickles (created from `limits.maxOps` when absent). */
  budget?: { opsLeft: number };
}

/**
 * The result of {@link unpickleAt}: the value and the offset just past its STOP opcode.
 *
 * @example
 * ```ts
 * const { value, end }: UnpickleResult = unpickleAt(bytes, 0);
 * ```
 */
export interface UnpickleResult {
  value: unknown;
  end: number;
}

/**
 * Unpickles the single pickle at the start of `bytes`.
 *
 * @param bytes   pickle data
 * @param options see {@link UnpickleOptions}
 * @example
 * ```ts
 * unpickle(new Uint8Array([0x80, 0x02, 0x4b, 0x07, 0x2e])); // 7  (PROTO 2, BININT1 7, STOP)
 * ```
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  return unpickleAt(bytes, 0, options).value;
}

/**
 * Unpickles the pickle that starts at `offset` (several can follow each other, as in legacy torch.save).
 *
 * @param bytes   buffer holding the pickle
 * @param offset  where it starts
 * @param options see {@link UnpickleOptions}
 * @example
 * ```ts
 * const { value, end } = unpickleAt(bytes, 0); // the next pickle starts at `end`
 * ```
 */
export function unpickleAt(bytes: Uint8Array, offset: number, options: UnpickleOptions = {}): UnpickleResult {
  return new Machine(bytes, offset, options).run();
}

class Machine implements CallContext {
  private pos: number;
  private opAt = 0;
  private op = 0;
  private readonly stack: unknown[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;
  private readonly limits: PickleLimits;
  private readonly budget: { opsLeft: number };

  constructor(private readonly bytes: Uint8Array, offset: number, private readonly o: UnpickleOptions) {
    this.pos = offset;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.limits = { ...DEFAULT_PICKLE_LIMITS, ...o.limits };
    this.budget = o.budget ?? { opsLeft: this.limits.maxOps };
  }

  fail(detail: string, truncated = false): never {
    const name = OPCODE_NAMES[this.op] ?? `0x${this.op.toString(16).padStart(2, '0')}`;
    const offset = (this.o.baseOffset ?? 0) + this.opAt;
    const E = truncated ? PickleTruncatedError : CheckpointFormatError;
    throw new E(`pickle opcode ${name}: ${detail}`, { file: this.o.file, offset });
  }

  call(fn: unknown, args: readonly unknown[]): unknown {
    if (!(fn instanceof PickleGlobal)) return this.fail(`cannot call ${describeValue(fn)}`);
    const impl = this.o.resolveGlobal?.(fn.module, fn.name) ?? builtinGlobal(fn.module, fn.name);
    return impl ? impl(args, this) : new PickleObject(fn.module, fn.name, args);
  }

  // ---- reading arguments ----
  private take(n: number, what: string): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.bytes.length - this.pos) {
      this.fail(`${what} of ${n} bytes runs past the end of the data (${this.bytes.length - this.pos} left)`, true);
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  private u8(): number {
    return this.take(1, 'argument')[0]!;
  }
  private u16(): number {
    this.take(2, 'argument');
    return this.view.getUint16(this.pos - 2, true);
  }
  private u32(): number {
    this.take(4, 'argument');
    return this.view.getUint32(this.pos - 4, true);
  }
  private i32(): number {
    this.take(4, 'argument');
    return this.view.getInt32(this.pos - 4, true);
  }
  private u64(): number {
    this.take(8, 'argument');
    const v = this.view.getBigUint64(this.pos - 8, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? this.fail(`length ${v} is too large`) : Number(v);
  }
  private line(): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) this.fail('text argument has no terminating newline', true);
    const raw = this.bytes.subarray(this.pos, nl);
    this.pos = nl + 1;
    let s = '';
    for (const b of raw) s += String.fromCharCode(b);
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  }
  private utf8(n: number): string {
    const s = decodeUtf8(this.take(n, 'string'));
    return s ?? this.fail('string is not valid UTF-8');
  }
  /** Python 2 `str` payloads: text when valid UTF-8, else kept as bytes. */
  private py2str(b: Uint8Array): string | Uint8Array {
    return decodeUtf8(b) ?? b.slice();
  }
  private decimal(): bigint {
    const t = this.line();
    return parseDecimal(t) ?? this.fail(`"${t.slice(0, 40)}" is not an integer`);
  }
  private index(n: bigint | number): number {
    const i = Number(n);
    return Number.isSafeInteger(i) && i >= 0 ? i : this.fail(`invalid memo index ${n}`);
  }

  // ---- stack ----
  private floor(): number {
    return this.marks.length ? this.marks[this.marks.length - 1]! : 0;
  }
  private push(v: unknown): void {
    if (this.stack.length >= this.limits.maxStack) this.fail(`stack exceeds ${this.limits.maxStack} values`);
    this.stack.push(v);
  }
  private pop(): unknown {
    if (this.stack.length <= this.floor()) this.fail('stack underflow');
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length <= this.floor()) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail('no MARK on the stack');
    return this.stack.splice(m);
  }
  private memoPut(i: number, v: unknown): void {
    if (!this.memo.has(i) && this.memo.size >= this.limits.maxMemo) this.fail(`memo exceeds ${this.limits.maxMemo} entries`);
    this.memo.set(i, v);
  }
  private memoGet(i: number): void {
    if (!this.memo.has(i)) this.fail(`memo key ${i} was never stored`);
    this.push(this.memo.get(i));
  }

  // ---- containers and objects ----
  private tuple(items: unknown[]): readonly unknown[] {
    return Object.freeze(items);
  }
  private argsTuple(v: unknown, what: string): readonly unknown[] {
    return Array.isArray(v) ? v : this.fail(`${what} must be a tuple, got ${describeValue(v)}`);
  }
  private appendTo(target: unknown, items: unknown[]): void {
    let list: unknown[];
    if (Array.isArray(target) && !Object.isFrozen(target)) list = target;
    else if (target instanceof PickleObject) list = target.list ??= [];
    else return this.fail(`cannot append to ${describeValue(target)}`);
    for (const x of items) list.push(x);
  }
  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2) this.fail('odd number of items for a dict');
    let map: Map<unknown, unknown>;
    if (target instanceof Map) map = target;
    else if (target instanceof PickleObject) map = target.items ??= new Map();
    else return this.fail(`cannot set items on ${describeValue(target)}`);
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
  }
  private addItems(target: unknown, items: unknown[]): void {
    if (!(target instanceof Set)) this.fail(`cannot add items to ${describeValue(target)}`);
    for (const x of items) target.add(x);
  }
  private build(obj: unknown, state: unknown): void {
    if (obj instanceof PickleObject) obj.state = state;
    else if (obj === null || typeof obj !== 'object') this.fail(`cannot set state on ${describeValue(obj)}`);
    // Containers and reader-built values (OrderedDict `_metadata`, tensors): attribute state is dropped.
  }
  private newObj(cls: unknown, args: readonly unknown[]): unknown {
    if (!(cls instanceof PickleGlobal)) return this.fail(`cannot instantiate ${describeValue(cls)}`);
    const make = NEWOBJ_CONTAINERS[cls.qualifiedName];
    return make ? make() : new PickleObject(cls.module, cls.name, args);
  }
  private persistent(pid: unknown): unknown {
    const load = this.o.persistentLoad;
    return load ? load(pid, this) : this.fail('persistent id found but this file kind does not use them');
  }

  run(): UnpickleResult {
    for (;;) {
      if (--this.budget.opsLeft < 0) this.fail('operation limit exceeded');
      this.opAt = this.pos;
      if (this.pos >= this.bytes.length) {
        this.op = 0x2e;
        this.fail('data ended before STOP', true);
      }
      this.op = this.bytes[this.pos++]!;
      if (this.op === 0x2e) return { value: this.pop(), end: this.pos };
      this.step(this.op);
    }
  }

  private step(op: number): void {
    switch (op) {
      case 0x80: { const v = this.u8(); if (v > 5) this.fail(`unsupported protocol ${v}`); return; }
      case 0x95: { // FRAME only announces how many bytes follow; its opcodes are read normally.
        const n = this.u64();
        return n > this.bytes.length - this.pos ? this.fail(`frame of ${n} bytes runs past the end of the data`, true) : undefined;
      }
      case 0x28: this.marks.push(this.stack.length); if (this.marks.length > this.limits.maxStack) this.fail('too many MARKs'); return;
      case 0x30: if (this.stack.length > this.floor()) this.stack.pop(); else this.popMark(); return;
      case 0x31: this.popMark(); return;
      case 0x32: return this.push(this.top());
      case 0x4e: return this.push(null);
      case 0x88: return this.push(true);
      case 0x89: return this.push(false);
      case 0x49: {
        const t = this.line();
        if (t === '00' || t === '01') return this.push(t === '01');
        const v = parseDecimal(t);
        return v === undefined ? this.fail(`"${t.slice(0, 40)}" is not an integer`) : this.push(pyInt(v));
      }
      case 0x4a: return this.push(this.i32());
      case 0x4b: return this.push(this.u8());
      case 0x4d: return this.push(this.u16());
      case 0x4c: return this.push(pyInt(this.decimal()));
      case 0x8a: return this.push(decodeLong(this.take(this.u8(), 'LONG1 payload')));
      case 0x8b: {
        const n = this.i32();
        if (n > 1 << 20) this.fail(`integer of ${n} bytes is unreasonably large`);
        return this.push(decodeLong(this.take(n, 'LONG4 payload')));
      }
      case 0x46: {
        const t = this.line();
        const v = parseFloatText(t);
        return v === undefined ? this.fail(`"${t.slice(0, 40)}" is not a float`) : this.push(v);
      }
      case 0x47: this.take(8, 'argument'); return this.push(this.view.getFloat64(this.pos - 8, false));
      case 0x53: {
        const b = decodeStringRepr(this.line());
        return b ? this.push(this.py2str(b)) : this.fail('malformed string literal');
      }
      case 0x54: return this.push(this.py2str(this.take(this.i32(), 'string')));
      case 0x55: return this.push(this.py2str(this.take(this.u8(), 'string')));
      case 0x56: {
        const nl = this.bytes.indexOf(0x0a, this.pos);
        if (nl < 0) this.fail('text argument has no terminating newline', true);
        const s = decodeRawUnicodeEscape(this.take(nl - this.pos, 'string'));
        this.pos++;
        return s === undefined ? this.fail('malformed unicode escape') : this.push(s);
      }
      case 0x58: return this.push(this.utf8(this.u32()));
      case 0x8c: return this.push(this.utf8(this.u8()));
      case 0x8d: return this.push(this.utf8(this.u64()));
      case 0x42: return this.push(this.take(this.u32(), 'bytes'));
      case 0x43: return this.push(this.take(this.u8(), 'bytes'));
      case 0x8e: return this.push(this.take(this.u64(), 'bytes'));
      case 0x96: return this.push(this.take(this.u64(), 'bytearray').slice());
      case 0x5d: return this.push([]);
      case 0x61: { const v = this.pop(); return this.appendTo(this.top(), [v]); }
      case 0x65: { const items = this.popMark(); return this.appendTo(this.top(), items); }
      case 0x6c: return this.push(this.popMark());
      case 0x29: return this.push(this.tuple([]));
      case 0x74: return this.push(this.tuple(this.popMark()));
      case 0x85: case 0x86: case 0x87: {
        const n = op - 0x84;
        const items: unknown[] = [];
        for (let i = 0; i < n; i++) items.unshift(this.pop());
        return this.push(this.tuple(items));
      }
      case 0x7d: return this.push(new Map());
      case 0x64: { const m = new Map(); this.setItems(m, this.popMark()); return this.push(m); }
      case 0x73: { const v = this.pop(); const k = this.pop(); return this.setItems(this.top(), [k, v]); }
      case 0x75: { const items = this.popMark(); return this.setItems(this.top(), items); }
      case 0x8f: return this.push(new Set());
      case 0x90: { const items = this.popMark(); return this.addItems(this.top(), items); }
      case 0x91: return this.push(new Set(this.popMark()));
      case 0x63: { const module = this.line(); const name = this.line(); return this.push(new PickleGlobal(module, name)); }
      case 0x93: {
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') this.fail('module and name must be strings');
        return this.push(new PickleGlobal(module, name));
      }
      case 0x52: { const args = this.argsTuple(this.pop(), 'REDUCE arguments'); return this.push(this.call(this.pop(), args)); }
      case 0x62: { const state = this.pop(); return this.build(this.top(), state); }
      case 0x81: { const args = this.argsTuple(this.pop(), 'NEWOBJ arguments'); return this.push(this.newObj(this.pop(), args)); }
      case 0x92: {
        const kwargs = this.pop();
        const args = this.argsTuple(this.pop(), 'NEWOBJ_EX arguments');
        const obj = this.newObj(this.pop(), args);
        if (obj instanceof PickleObject) obj.kwargs = kwargs;
        return this.push(obj);
      }
      case 0x69: {
        const module = this.line();
        const name = this.line();
        return this.push(new PickleObject(module, name, this.tuple(this.popMark())));
      }
      case 0x6f: {
        const items = this.popMark();
        const cls = items.shift();
        if (!(cls instanceof PickleGlobal)) this.fail(`cannot instantiate ${describeValue(cls)}`);
        return this.push(new PickleObject(cls.module, cls.name, this.tuple(items)));
      }
      case 0x70: return this.memoPut(this.index(this.decimal()), this.top());
      case 0x71: return this.memoPut(this.u8(), this.top());
      case 0x72: return this.memoPut(this.u32(), this.top());
      case 0x94: return this.memoPut(this.memo.size, this.top());
      case 0x67: return this.memoGet(this.index(this.decimal()));
      case 0x68: return this.memoGet(this.u8());
      case 0x6a: return this.memoGet(this.u32());
      case 0x50: return this.push(this.persistent(this.line()));
      case 0x51: return this.push(this.persistent(this.pop()));
      case 0x82: case 0x83: case 0x84: return this.fail('extension registry codes are not supported');
      case 0x97: case 0x98: return this.fail('out-of-band buffers (protocol 5) are not supported');
      default: return this.fail(`unknown opcode byte 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
