/**
 * safetensors reader. {@link openSafetensors} reads only the 8-byte length and the JSON header up front, then
 * each tensor's byte range on demand, so multi-GiB files open instantly and never need to fit in memory.
 * float16/bfloat16 are widened to float32 by default (`widen: false` keeps the raw bits as `Uint16Array`).
 * The writer is in `safetensors-write.ts`.
 * @module
 */
import { MissingWeightError } from '../errors.js';
import { bf16BitsToFloat32, DTYPE_SIZE, halfBitsToFloat32, type DType, type TensorData } from './dtype.js';
import { openFileSource, type ByteSource } from './file-source.js';
import {
  parseSafetensorsHeader,
  readHeaderLength,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsLayout,
  type SafetensorsTensorInfo,
} from './safetensors-header.js';
import type { RawTensor } from './types.js';

export type { SafetensorsLayout, SafetensorsTensorInfo } from './safetensors-header.js';

/**
 * Options of {@link SafetensorsFile.read} and friends.
 *
 * @example
 * ```ts
 * const opts: SafetensorsReadOptions = { widen: false }; // keep float16 bits
 * ```
 */
export interface SafetensorsReadOptions {
  /** Widen float16/bfloat16 to float32 (`Float32Array`, dtype `float32`). Default `true`. */
  widen?: boolean;
}

/**
 * Options of {@link openSafetensors}.
 *
 * @example
 * ```ts
 * const opts: SafetensorsOpenOptions = { maxHeaderBytes: 1 << 20 };
 * ```
 */
export interface SafetensorsOpenOptions {
  /** Largest JSON header accepted, in bytes (default 100,000,000 as in the reference). */
  maxHeaderBytes?: number;
}

/**
 * An open safetensors file: the validated header, and tensors read on demand.
 *
 * @example
 * ```ts
 * const st = await openSafetensors('model.safetensors');
 * for (const name of st.names()) console.log(name, st.info(name).shape);
 * const w = await st.read('conv_in.weight'); // RawTensor, float32
 * await st.close();
 * ```
 */
export interface SafetensorsFile {
  /** The path (or label) of the file. */
  readonly file: string;
  /** The `__metadata__` map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The full validated header. */
  readonly layout: SafetensorsLayout;
  /** Tensor names in header order. */
  names(): string[];
  /** Whether a tensor of that name exists. */
  has(name: string): boolean;
  /** Dtype, shape and byte range of one tensor; throws {@link MissingWeightError} if absent. */
  info(name: string): SafetensorsTensorInfo;
  /** Reads one tensor; throws {@link MissingWeightError} if absent. */
  read(name: string, opts?: SafetensorsReadOptions): Promise<RawTensor>;
  /** Reads every tensor, in header order. */
  readAll(opts?: SafetensorsReadOptions): Promise<Map<string, RawTensor>>;
  /** Closes the file handle. */
  close(): Promise<void>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Views little-endian element bytes as the dtype's typed array. `bytes` must own its buffer from byte 0 (as
 * returned by `slice()` or a fresh read), so the view is aligned; on a big-endian host the bytes are swapped in
 * place first.
 *
 * @param dtype element type
 * @param bytes `numel × size` bytes, exclusively owned
 * @example
 * ```ts
 * typedArrayFromBytes('int16', new Uint8Array([1, 0, 255, 255])); // Int16Array [1, -1]
 * ```
 */
export function typedArrayFromBytes(dtype: DType, bytes: Uint8Array): TensorData {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  if (!LITTLE_ENDIAN && size > 1) {
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  }
  const { buffer, byteOffset } = bytes;
  const n = bytes.length / size;
  switch (dtype) {
    case 'float64': return new Float64Array(buffer, byteOffset, n);
    case 'float32': return new Float32Array(buffer, byteOffset, n);
    case 'float16': case 'bfloat16': return new Uint16Array(buffer, byteOffset, n);
    case 'int64': return new BigInt64Array(buffer, byteOffset, n);
    case 'int32': return new Int32Array(buffer, byteOffset, n);
    case 'int16': return new Int16Array(buffer, byteOffset, n);
    case 'int8': return new Int8Array(buffer, byteOffset, n);
    case 'uint8': case 'bool': return new Uint8Array(buffer, byteOffset, n);
  }
}

/**
 * Decodes one tensor's bytes into a {@link RawTensor}, widening float16/bfloat16 unless `widen` is false.
 *
 * @param info  the tensor's header entry
 * @param bytes its `info.byteLength` bytes
 * @param opts  `widen` (default true); `owned`: the bytes may be viewed in place (else they are copied)
 * @example
 * ```ts
 * const t = decodeSafetensorsTensor(layout.tensors.get('x')!, bytes, { widen: true });
 * ```
 */
export function decodeSafetensorsTensor(
  info: SafetensorsTensorInfo,
  bytes: Uint8Array,
  opts: SafetensorsReadOptions & { owned?: boolean } = {},
): RawTensor {
  const own = opts.owned ? bytes : bytes.slice();
  const data = typedArrayFromBytes(info.dtype, own);
  const shape = [...info.shape];
  if (opts.widen !== false && (info.dtype === 'float16' || info.dtype === 'bfloat16')) {
    const bits = data as Uint16Array;
    return { dtype: 'float32', shape, data: info.dtype === 'float16' ? halfBitsToFloat32(bits) : bf16BitsToFloat32(bits) };
  }
  return { dtype: info.dtype, shape, data };
}

class SafetensorsReader implements SafetensorsFile {
  constructor(private readonly src: ByteSource, readonly layout: SafetensorsLayout) {}

  get file(): string {
    return this.layout.file;
  }
  get metadata(): Readonly<Record<string, string>> {
    return this.layout.metadata;
  }
  names(): string[] {
    return [...this.layout.tensors.keys()];
  }
  has(name: string): boolean {
    return this.layout.tensors.has(name);
  }
  info(name: string): SafetensorsTensorInfo {
    const t = this.layout.tensors.get(name);
    if (!t) throw new MissingWeightError(name, this.file);
    return t;
  }
  async read(name: string, opts: SafetensorsReadOptions = {}): Promise<RawTensor> {
    const info = this.info(name);
    const bytes = await this.src.read(info.fileOffset, info.byteLength);
    return decodeSafetensorsTensor(info, bytes, { ...opts, owned: true });
  }
  async readAll(opts: SafetensorsReadOptions = {}): Promise<Map<string, RawTensor>> {
    const out = new Map<string, RawTensor>();
    for (const name of this.layout.tensors.keys()) out.set(name, await this.read(name, opts));
    return out;
  }
  close(): Promise<void> {
    return this.src.close();
  }
}

/**
 * Opens a safetensors file from any {@link ByteSource}, validating the header (only the header is read).
 *
 * @param src  the bytes; closed again if the header is invalid
 * @param opts `maxHeaderBytes`
 * @example
 * ```ts
 * const st = await openSafetensorsSource(bufferSource(bytes, 'inline.safetensors'));
 * ```
 */
export async function openSafetensorsSource(src: ByteSource, opts: SafetensorsOpenOptions = {}): Promise<SafetensorsFile> {
  try {
    const first8 = await src.read(0, Math.min(8, src.size));
    const n = readHeaderLength(first8, src.size, src.name, opts.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES);
    const layout = parseSafetensorsHeader(await src.read(8, n), src.size, src.name);
    return new SafetensorsReader(src, layout);
  } catch (err) {
    await src.close();
    throw err;
  }
}

/**
 * Opens a safetensors file lazily: reads and validates the header; tensors are read on demand. Positions are
 * plain numbers (exact to 2^53), so files over 4 GiB work. Throws `CheckpointFormatError` (with file and byte
 * offset) on any malformed header, `FileAccessError` if the file cannot be opened.
 *
 * @param path the `.safetensors` file (never modified)
 * @param opts `maxHeaderBytes`
 * @example
 * ```ts
 * const st = await openSafetensors('unet/diffusion_pytorch_model.fp16.safetensors');
 * const bits = await st.read('conv_in.weight', { widen: false }); // dtype 'float16', Uint16Array
 * await st.close();
 * ```
 */
export async function openSafetensors(path: string, opts: SafetensorsOpenOptions = {}): Promise<SafetensorsFile> {
  return openSafetensorsSource(await openFileSource(path), opts);
}

/**
 * Reads every tensor of a safetensors file.
 *
 * @param path the file
 * @param opts `widen` (default true), `maxHeaderBytes`
 * @example
 * ```ts
 * const tensors = await readSafetensors('vae/diffusion_pytorch_model.safetensors');
 * tensors.get('decoder.conv_in.weight')?.shape; // [512, 4, 3, 3]
 * ```
 */
export async function readSafetensors(
  path: string,
  opts: SafetensorsReadOptions & SafetensorsOpenOptions = {},
): Promise<Map<string, RawTensor>> {
  const st = await openSafetensors(path, opts);
  try {
    return await st.readAll(opts);
  } finally {
    await st.close();
  }
}

/**
 * Validates the header of an in-memory safetensors file and returns its layout (no tensor is decoded).
 *
 * @param buf  the whole file
 * @param name label for errors
 * @param opts `maxHeaderBytes`
 * @example
 * ```ts
 * parseSafetensorsLayout(bytes, 'x.safetensors').metadata; // { format: 'pt' }
 * ```
 */
export function parseSafetensorsLayout(buf: Uint8Array, name = '<buffer>', opts: SafetensorsOpenOptions = {}): SafetensorsLayout {
  const n = readHeaderLength(buf.subarray(0, 8), buf.length, name, opts.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES);
  return parseSafetensorsHeader(buf.subarray(8, 8 + n), buf.length, name);
}

/**
 * Parses a whole safetensors file held in memory. Tensor data are copied out (aligned), never aliasing `buf`.
 *
 * @param buf  the file's bytes
 * @param name label for errors (e.g. the archive entry it came from)
 * @param opts `widen` (default true), `maxHeaderBytes`
 * @example
 * ```ts
 * const tensors = parseSafetensors(new Uint8Array(await blob.arrayBuffer()), 'upload.safetensors');
 * ```
 */
export function parseSafetensors(
  buf: Uint8Array,
  name = '<buffer>',
  opts: SafetensorsReadOptions & SafetensorsOpenOptions = {},
): Map<string, RawTensor> {
  const layout = parseSafetensorsLayout(buf, name, opts);
  const out = new Map<string, RawTensor>();
  for (const info of layout.tensors.values()) {
    out.set(info.name, decodeSafetensorsTensor(info, buf.subarray(info.fileOffset, info.fileOffset + info.byteLength), opts));
  }
  return out;
}
