/**
 * PyTorch storages and tensor views as the unpickler rebuilds them, and their materialization into
 * {@link RawTensor}s. A {@link TorchTensor} is a lazy strided view (storage + offset + shape + stride, all
 * bounds-checked when rebuilt); its bytes are read only when materialized, and several views may share one
 * storage.
 * @module
 */
import { constants as bufferConstants } from 'node:buffer';
import { CheckpointFormatError, SemeditError } from '../errors.js';
import { bf16BitsToFloat32, DTYPE_SIZE, halfBitsToFloat32, type DType, type TensorData } from './dtype.js';
import type { RawTensor } from './types.js';
import { describeValue, type CallContext } from './pickle-values.js';

/**
 * One PyTorch storage: a flat array of `numel` elements of `dtype`, read on demand.
 *
 * @example
 * ```ts
 * const s = new TorchStorage({ dtype: 'float32', numel: 2, key: '0', where: 'inline', read: async () => bytes });
 * (await s.read()).length; // 8
 * ```
 */
export class TorchStorage {
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly numel: number;
  /** The key naming it in its file (zip record name suffix, legacy storage key). */
  readonly key: string;
  /** Device it was saved from (`cpu`, `cuda:0`), informational. */
  readonly location: string;
  /** Where it lives, for error messages (`file [record]`). */
  readonly where: string;
  private readonly reader: () => Promise<Uint8Array>;
  private readonly bigEndian: boolean;

  /**
   * @param init.dtype     element type
   * @param init.numel     element count
   * @param init.key       storage key
   * @param init.location  saved device
   * @param init.where     location for error messages
   * @param init.read      returns the raw bytes (exactly `numel * DTYPE_SIZE[dtype]`)
   * @param init.bigEndian the bytes are big-endian (they are swapped on read)
   */
  constructor(init: {
    dtype: DType; numel: number; key: string; location?: string; where: string;
    read: () => Promise<Uint8Array>; bigEndian?: boolean;
  }) {
    this.dtype = init.dtype;
    this.numel = init.numel;
    this.key = init.key;
    this.location = init.location ?? 'cpu';
    this.where = init.where;
    this.reader = init.read;
    this.bigEndian = init.bigEndian ?? false;
  }

  /** Storage size in bytes. */
  get byteLength(): number {
    return this.numel * DTYPE_SIZE[this.dtype];
  }

  /** Reads the storage as little-endian bytes (the caller must not modify them); checks the byte count. */
  async read(): Promise<Uint8Array> {
    const bytes = await this.reader();
    if (bytes.length !== this.byteLength) {
      throw new CheckpointFormatError(
        `storage "${this.key}" holds ${bytes.length} bytes, but ${this.numel} ${this.dtype} elements need ${this.byteLength}`,
        { file: this.where },
      );
    }
    const es = DTYPE_SIZE[this.dtype];
    if (!this.bigEndian || es === 1) return bytes;
    const out = copyBytes(bytes);
    for (let i = 0; i < out.length; i += es) out.subarray(i, i + es).reverse();
    return out;
  }
}

/**
 * A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view into a {@link TorchStorage}.
 *
 * @example
 * ```ts
 * const t = new TorchTensor(storage, 0, [2, 3], [3, 1], false);
 * t.numel;        // 6
 * t.isContiguous; // true
 * ```
 */
export class TorchTensor {
  /**
   * @param storage       the storage viewed
   * @param storageOffset first element, in elements
   * @param shape         logical shape
   * @param stride        strides in elements
   * @param requiresGrad  saved `requires_grad` flag
   */
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
  /** Element type (the storage's). */
  get dtype(): DType {
    return this.storage.dtype;
  }
  /** Element count of the view. */
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** Whether the view is row-major contiguous (PyTorch's `is_contiguous()`). */
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.stride);
  }
}

/**
 * PyTorch's contiguity rule: strides equal the row-major ones, ignoring size-1 dimensions.
 *
 * @param shape  sizes
 * @param stride strides in elements
 * @example
 * ```ts
 * isContiguous([2, 3], [3, 1]); // true
 * isContiguous([3, 2], [1, 3]); // false (a transpose)
 * ```
 */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  if (shape.some((d) => d === 0)) return true;
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

function intList(v: unknown, what: string, ctx: CallContext): number[] {
  if (!Array.isArray(v)) return ctx.fail(`${what} must be a tuple of ints, got ${describeValue(v)}`);
  return v.map((x) => (Number.isSafeInteger(x) && (x as number) >= 0 ? (x as number) : ctx.fail(`${what} has a bad entry ${describeValue(x)}`)));
}

/**
 * Validates `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`
 * arguments and builds the view. Every element the view can reach must lie inside the storage.
 *
 * @param args the REDUCE arguments
 * @param ctx  the unpickler's call context (for located errors)
 * @example
 * ```ts
 * // inside a GlobalResolver: 'torch._utils._rebuild_tensor_v2' → (args, ctx) => rebuildTensor(args, ctx)
 * ```
 */
export function rebuildTensor(args: readonly unknown[], ctx: CallContext): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorage)) return ctx.fail(`tensor storage is ${describeValue(storage)}, not a storage`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) return ctx.fail(`bad storage offset ${describeValue(offset)}`);
  const shape = intList(size, 'tensor size', ctx);
  const strides = intList(stride, 'tensor stride', ctx);
  if (shape.length !== strides.length) ctx.fail(`size has ${shape.length} dims but stride has ${strides.length}`);
  let numel = 1;
  let last = offset as number;
  for (let d = 0; d < shape.length; d++) {
    numel *= shape[d]!;
    if (shape[d]! > 0) last += (shape[d]! - 1) * strides[d]!;
    if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(last)) ctx.fail('tensor size/stride overflow');
  }
  if (numel > 0 ? last >= storage.numel : (offset as number) > storage.numel) {
    ctx.fail(`view (offset ${offset as number}, size [${shape}], stride [${strides}]) reaches element ${last} ` +
      `of a ${storage.numel}-element storage "${storage.key}"`);
  }
  return new TorchTensor(storage, offset as number, shape, strides, requiresGrad === true);
}

/**
 * Options of {@link materializeTensor} / {@link materializeTensors}.
 *
 * @example
 * ```ts
 * await materializeTensors(refs, { widen: false, maxTensorBytes: 1 << 30 });
 * ```
 */
export interface MaterializeOptions {
  /** Widen float16/bfloat16 to float32 (default true); `false` keeps the raw bits (`Uint16Array`, stored dtype). */
  widen?: boolean;
  /** Refuse tensors larger than this many bytes (default: the runtime's buffer limit). */
  maxTensorBytes?: number;
}

/** A copy in a fresh, exactly sized buffer (also for Node `Buffer`s, whose `slice` does not copy). */
function copyBytes(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  out.set(src);
  return out;
}

function gather(src: Uint8Array, t: TorchTensor, es: number): ArrayBuffer {
  const n = t.numel;
  if (t.isContiguous) return copyBytes(src.subarray(t.storageOffset * es, (t.storageOffset + n) * es)).buffer as ArrayBuffer;
  const aligned = src.byteOffset % 4 === 0 ? src : copyBytes(src);
  const out = new ArrayBuffer(n * es);
  const words = es === 8 ? 2 : 1;
  const W = es === 1 ? Uint8Array : es === 2 ? Uint16Array : Uint32Array;
  const S = new W(aligned.buffer as ArrayBuffer, aligned.byteOffset, (aligned.byteLength / es) * words);
  const O = new W(out);
  const { shape, stride } = t;
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let s = t.storageOffset;
  for (let o = 0; o < n; o++) {
    if (words === 1) O[o] = S[s]!;
    else {
      O[2 * o] = S[2 * s]!;
      O[2 * o + 1] = S[2 * s + 1]!;
    }
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      s += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      s -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function typed(dtype: DType, buf: ArrayBuffer, widen: boolean): { dtype: DType; data: TensorData } {
  switch (dtype) {
    case 'float32': return { dtype, data: new Float32Array(buf) };
    case 'float64': return { dtype, data: new Float64Array(buf) };
    case 'float16': return widen ? { dtype: 'float32', data: halfBitsToFloat32(new Uint16Array(buf)) } : { dtype, data: new Uint16Array(buf) };
    case 'bfloat16': return widen ? { dtype: 'float32', data: bf16BitsToFloat32(new Uint16Array(buf)) } : { dtype, data: new Uint16Array(buf) };
    case 'int64': return { dtype, data: new BigInt64Array(buf) };
    case 'int32': return { dtype, data: new Int32Array(buf) };
    case 'int16': return { dtype, data: new Int16Array(buf) };
    case 'int8': return { dtype, data: new Int8Array(buf) };
    case 'uint8': case 'bool': return { dtype, data: new Uint8Array(buf) };
  }
}

/**
 * Reads a tensor view's elements into a logically contiguous {@link RawTensor} (row-major; `stride` and
 * `storageOffset` report the view as stored). float16/bfloat16 are widened to float32 unless `widen: false`.
 *
 * @param t       the view
 * @param options see {@link MaterializeOptions}
 * @param cache   storage bytes already read (shared between views of one storage)
 * @example
 * ```ts
 * const raw = await materializeTensor(ckpt.tensorRefs().get('conv_in.weight')!);
 * raw.shape; // [320, 4, 3, 3]
 * ```
 */
export async function materializeTensor(
  t: TorchTensor, options: MaterializeOptions = {}, cache?: Map<TorchStorage, Promise<Uint8Array>>,
): Promise<RawTensor> {
  const es = DTYPE_SIZE[t.dtype];
  const limit = options.maxTensorBytes ?? bufferConstants.MAX_LENGTH;
  if (t.numel * es > limit) {
    throw new SemeditError('E_TOO_LARGE', `${t.storage.where}: tensor of shape [${t.shape}] (${t.numel * es} bytes) exceeds the ${limit}-byte limit`);
  }
  let pending = cache?.get(t.storage);
  if (!pending) {
    pending = t.storage.read();
    cache?.set(t.storage, pending);
  }
  const { dtype, data } = typed(t.dtype, gather(await pending, t, es), options.widen ?? true);
  return { dtype, shape: [...t.shape], data, stride: [...t.stride], storageOffset: t.storageOffset };
}

/**
 * Materializes many views, reading each storage once and releasing it after its last view.
 *
 * @param refs    views by name
 * @param options see {@link MaterializeOptions}
 * @example
 * ```ts
 * const tensors = await materializeTensors(ckpt.tensorRefs());
 * tensors.get('conv_in.bias')!.data; // Float32Array
 * ```
 */
export async function materializeTensors(
  refs: ReadonlyMap<string, TorchTensor>, options: MaterializeOptions = {},
): Promise<Map<string, RawTensor>> {
  const uses = new Map<TorchStorage, number>();
  for (const t of refs.values()) uses.set(t.storage, (uses.get(t.storage) ?? 0) + 1);
  const cache = new Map<TorchStorage, Promise<Uint8Array>>();
  const out = new Map<string, RawTensor>();
  for (const [name, t] of refs) {
    out.set(name, await materializeTensor(t, options, cache));
    const left = uses.get(t.storage)! - 1;
    uses.set(t.storage, left);
    if (left === 0) cache.delete(t.storage);
  }
  return out;
}
