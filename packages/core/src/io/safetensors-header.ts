/**
 * safetensors header validation. A file is `u64 little-endian N`, then `N` bytes of UTF-8 JSON (padded with
 * spaces), then the data section; the JSON maps tensor names to `{dtype, shape, data_offsets: [begin, end]}`
 * (offsets relative to the data section) plus an optional `__metadata__` string map. Everything is checked
 * before any tensor byte is read or any buffer sized from the header is allocated.
 * @module
 */
import { CheckpointFormatError } from '../errors.js';
import { DTYPE_SIZE, type DType } from './dtype.js';
import { firstInvalidUtf8, scanJsonKeys } from './json-keys.js';
import type { TensorInfo } from './types.js';

/**
 * Largest header accepted by default (the reference implementation's limit).
 *
 * @example
 * ```ts
 * SAFETENSORS_MAX_HEADER_BYTES; // 100000000
 * ```
 */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/**
 * safetensors dtype names this reader supports, and their {@link DType}.
 *
 * @example
 * ```ts
 * SAFETENSORS_DTYPES['BF16']; // 'bfloat16'
 * ```
 */
export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

/**
 * One tensor of a safetensors file, located but not read.
 *
 * @example
 * ```ts
 * const t: SafetensorsTensorInfo = {
 *   name: 'conv_in.bias', dtype: 'float32', shape: [32], dataOffsets: [0, 128], fileOffset: 96, byteLength: 128,
 * };
 * ```
 */
export interface SafetensorsTensorInfo extends TensorInfo {
  /** `[begin, end)` as stored in the header: relative to the start of the data section. */
  dataOffsets: [number, number];
  /** Absolute byte offset of the first element in the file. */
  fileOffset: number;
  /** `end - begin` = numel × element size. */
  byteLength: number;
}

/**
 * A validated safetensors header.
 *
 * @example
 * ```ts
 * const layout = parseSafetensorsHeader(headerBytes, fileSize, 'model.safetensors');
 * layout.tensors.get('conv_in.bias')?.shape; // [32]
 * ```
 */
export interface SafetensorsLayout {
  file: string;
  /** Total file size in bytes. */
  fileSize: number;
  /** Length `N` of the JSON header. */
  headerLength: number;
  /** `8 + N`: absolute offset of the data section. */
  dataStart: number;
  /** `__metadata__` (empty when absent). */
  metadata: Record<string, string>;
  /** Tensors in header order. */
  tensors: Map<string, SafetensorsTensorInfo>;
}

/**
 * Validates the 8-byte length prefix against the file size and returns the header length `N`.
 *
 * @param first8   the file's first bytes (at least 8 unless the file is shorter)
 * @param fileSize total file size
 * @param file     file name for errors
 * @param maxHeaderBytes largest header accepted
 * @example
 * ```ts
 * const n = readHeaderLength(await src.read(0, 8), src.size, src.name);
 * ```
 */
export function readHeaderLength(
  first8: Uint8Array,
  fileSize: number,
  file: string,
  maxHeaderBytes = SAFETENSORS_MAX_HEADER_BYTES,
): number {
  if (fileSize < 8 || first8.length < 8) {
    throw new CheckpointFormatError(`file is ${fileSize} bytes, too short for the 8-byte header length`, { file, offset: 0 });
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new CheckpointFormatError(`header length ${n} exceeds the file size (${fileSize} bytes)`, { file, offset: 0 });
  }
  if (n > BigInt(maxHeaderBytes)) {
    throw new CheckpointFormatError(`header length ${n} exceeds the limit of ${maxHeaderBytes} bytes`, { file, offset: 0 });
  }
  if (n < 2n) throw new CheckpointFormatError(`header length ${n} is too small for a JSON object`, { file, offset: 0 });
  return Number(n);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Decodes and parses the JSON, rejecting bad UTF-8, a non-object, and duplicate keys. */
function parseJson(bytes: Uint8Array, file: string): { obj: Record<string, unknown>; keys: { key: string; offset: number }[] } {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) throw new CheckpointFormatError('header is not valid UTF-8', { file, offset: 8 + bad });
  if (bytes[0] !== 0x7b) throw new CheckpointFormatError(`header must start with '{'`, { file, offset: 8 });
  let obj: unknown;
  try {
    obj = JSON.parse(new TextDecoder('utf-8').decode(bytes));
  } catch (err) {
    throw new CheckpointFormatError(`header is not valid JSON (${(err as Error).message})`, { file, offset: 8 });
  }
  if (!isObject(obj)) throw new CheckpointFormatError('header JSON is not an object', { file, offset: 8 });
  const scan = scanJsonKeys(bytes);
  if (scan.duplicate) {
    const { key, depth, offset } = scan.duplicate;
    const what = depth === 1 ? `tensor name ${JSON.stringify(key)} appears twice` : `key ${JSON.stringify(key)} appears twice in one entry`;
    throw new CheckpointFormatError(`duplicate key in header: ${what}`, { file, offset: 8 + offset });
  }
  return { obj, keys: scan.keys };
}

/** numel × size as a number, or undefined if it exceeds `limit` (computed without overflow). */
function byteSize(shape: number[], size: number, limit: number): number | undefined {
  if (shape.includes(0)) return 0;
  let bytes = BigInt(size);
  const cap = BigInt(limit);
  for (const d of shape) {
    bytes *= BigInt(d);
    if (bytes > cap) return undefined;
  }
  return Number(bytes);
}

function parseMetadata(v: unknown, file: string, offset: number): Record<string, string> {
  if (v === null) return {};
  if (!isObject(v)) throw new CheckpointFormatError('__metadata__ must be an object of strings', { file, offset });
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') {
      throw new CheckpointFormatError(`__metadata__[${JSON.stringify(k)}] is ${typeof s}, expected a string`, { file, offset });
    }
  }
  return Object.fromEntries(Object.entries(v as Record<string, string>));
}

function parseEntry(name: string, v: unknown, dataStart: number, file: string, offset: number): SafetensorsTensorInfo {
  const fail = (what: string): never => {
    throw new CheckpointFormatError(`tensor ${JSON.stringify(name)}: ${what}`, { file, offset });
  };
  if (!isObject(v)) return fail('entry is not an object');
  const { dtype: st, shape, data_offsets: offs } = v;
  if (typeof st !== 'string') return fail(`"dtype" is ${st === undefined ? 'missing' : 'not a string'}`);
  const dtype = Object.hasOwn(SAFETENSORS_DTYPES, st) ? SAFETENSORS_DTYPES[st] : undefined;
  if (!dtype) return fail(`unknown dtype ${JSON.stringify(st).slice(0, 40)} (supported: ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`);
  if (!Array.isArray(shape)) return fail(`"shape" is ${shape === undefined ? 'missing' : 'not an array'}`);
  shape.forEach((d, i) => isCount(d) || fail(`shape[${i}] = ${JSON.stringify(d)} is not a non-negative integer`));
  if (!Array.isArray(offs)) return fail(`"data_offsets" is ${offs === undefined ? 'missing' : 'not an array'}`);
  if (offs.length !== 2 || !isCount(offs[0]) || !isCount(offs[1])) {
    return fail(`"data_offsets" must be [begin, end] non-negative integers, got ${JSON.stringify(offs).slice(0, 80)}`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) return fail(`data_offsets [${begin}, ${end}] end before begin`);
  const nbytes = byteSize(shape as number[], DTYPE_SIZE[dtype], Number.MAX_SAFE_INTEGER);
  if (nbytes === undefined) return fail(`shape [${shape.join(', ')}] of ${st} is larger than 2^53 bytes`);
  if (end - begin !== nbytes) {
    return fail(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] of ${st} needs ${nbytes}`);
  }
  return { name, dtype, shape: shape as number[], dataOffsets: [begin, end], fileOffset: dataStart + begin, byteLength: nbytes };
}

/** Checks that the tensors tile the data section exactly (no overlap, no gap, no truncation, no trailing bytes). */
function checkCoverage(entries: SafetensorsTensorInfo[], dataSize: number, dataStart: number, file: string): void {
  const sorted = [...entries].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let prevEnd = 0;
  let prev: SafetensorsTensorInfo | undefined;
  for (const t of sorted) {
    const [begin, end] = t.dataOffsets;
    if (end > dataSize) {
      const last = sorted.reduce((a, b) => (b.dataOffsets[1] > a.dataOffsets[1] ? b : a));
      throw new CheckpointFormatError(
        `file is truncated: the data section holds ${dataSize} bytes but tensor ${JSON.stringify(last.name)} ends at ${last.dataOffsets[1]}`,
        { file, offset: dataStart + dataSize },
      );
    }
    if (begin < prevEnd) {
      throw new CheckpointFormatError(
        `tensor ${JSON.stringify(t.name)} [${begin}, ${end}) overlaps tensor ${JSON.stringify(prev!.name)} [${prev!.dataOffsets[0]}, ${prevEnd})`,
        { file, offset: dataStart + begin },
      );
    }
    if (begin > prevEnd) {
      throw new CheckpointFormatError(`gap of ${begin - prevEnd} unused bytes before tensor ${JSON.stringify(t.name)}`, {
        file,
        offset: dataStart + prevEnd,
      });
    }
    prevEnd = end;
    prev = t;
  }
  if (prevEnd !== dataSize) {
    throw new CheckpointFormatError(`${dataSize - prevEnd} trailing bytes after the last tensor's data`, {
      file,
      offset: dataStart + prevEnd,
    });
  }
}

/**
 * Parses and fully validates a safetensors JSON header. The data section must be tiled exactly by the tensors'
 * `data_offsets` (as the reference implementation requires): no overlap, gap, truncation or trailing bytes.
 *
 * @param header   the `N` header bytes (file bytes `[8, 8 + N)`)
 * @param fileSize total file size, to check the data section
 * @param file     file name for errors
 * @example
 * ```ts
 * const n = readHeaderLength(first8, size, 'a.safetensors');
 * const layout = parseSafetensorsHeader(bytes.subarray(8, 8 + n), size, 'a.safetensors');
 * ```
 */
export function parseSafetensorsHeader(header: Uint8Array, fileSize: number, file: string): SafetensorsLayout {
  const headerLength = header.length;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  if (dataSize < 0) throw new CheckpointFormatError('header runs past the end of the file', { file, offset: 0 });
  const { obj, keys } = parseJson(header, file);
  let metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const { key, offset } of keys) {
    if (key === '__metadata__') metadata = parseMetadata(obj[key], file, 8 + offset);
    else tensors.set(key, parseEntry(key, obj[key], dataStart, file, 8 + offset));
  }
  checkCoverage([...tensors.values()], dataSize, dataStart, file);
  return { file, fileSize, headerLength, dataStart, metadata, tensors };
}
