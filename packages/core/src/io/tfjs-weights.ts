/**
 * The TensorFlow.js weights format: a `model.json` whose `weightsManifest` lists groups of weights
 * (`{paths, weights: [{name, shape, dtype, quantization?}]}`), each group's weights stored back to back and
 * split across binary shard files. This is what `tf.io.decodeWeights` / `tf.loadGraphModel` read. The reader
 * validates the manifest and shard sizes fully and dequantizes `float16` (and `uint8`/`uint16` affine)
 * quantization exactly as tfjs-core does. The writer is in `tfjs-weights-write.ts`.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CheckpointFormatError } from '../errors.js';
import { halfBitsToFloat32 } from './dtype.js';
import { FileAccessError } from './file-source.js';
import { typedArrayFromBytes } from './safetensors.js';
import type { RawTensor } from './types.js';

/**
 * tfjs dtypes this reader supports (`string` and `complex64` weights are rejected).
 *
 * @example
 * ```ts
 * const d: TfjsWeightDType = 'int32';
 * ```
 */
export type TfjsWeightDType = 'float32' | 'int32' | 'bool';

/**
 * One weight of a manifest group (tfjs-core `WeightsManifestEntry`).
 *
 * @example
 * ```ts
 * const w: TfjsWeightSpec = { name: 'conv/w', shape: [3, 3, 4, 8], dtype: 'float32', quantization: { dtype: 'float16' } };
 * ```
 */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: TfjsWeightDType;
  /** tfjs quantization: `float16` (float32 weights only), or `uint8`/`uint16` with `scale` and `min`. */
  quantization?: { dtype: 'float16' | 'uint8' | 'uint16'; scale?: number; min?: number; original_dtype?: string };
  group?: string;
}

/**
 * One group of the manifest: shard paths (relative to `model.json`) and the weights stored in them, in order.
 *
 * @example
 * ```ts
 * const g: TfjsWeightsGroup = { paths: ['group1-shard1of1.bin'], weights: [{ name: 'b', shape: [2], dtype: 'int32' }] };
 * ```
 */
export interface TfjsWeightsGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

/**
 * The parts of a tfjs `model.json` this module reads and writes.
 *
 * @example
 * ```ts
 * const m: TfjsModelJson = { format: 'semedit-weights', weightsManifest: [] };
 * ```
 */
export interface TfjsModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  userDefinedMetadata?: Record<string, unknown>;
  weightsManifest: TfjsWeightsGroup[];
  [extra: string]: unknown;
}

interface CheckedWeight {
  spec: TfjsWeightSpec;
  byteLength: number;
}
interface CheckedGroup {
  paths: string[];
  weights: CheckedWeight[];
  byteLength: number;
}

const VALUE_SIZE: Record<string, number> = { float32: 4, int32: 4, bool: 1, float16: 2, uint16: 2, uint8: 1 };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkPath(p: unknown, where: string, file: string): string {
  if (typeof p !== 'string' || p === '' || p.includes('\0')) {
    throw new CheckpointFormatError(`${where} must be a non-empty file name, got ${JSON.stringify(p)}`, { file });
  }
  if (p.startsWith('/') || p.startsWith('\\') || /^[a-z][a-z0-9+.-]*:/i.test(p) || p.split(/[\\/]/).includes('..')) {
    throw new CheckpointFormatError(`${where} ${JSON.stringify(p)} must be a relative path inside the model folder`, { file });
  }
  return p;
}

function checkWeight(w: unknown, where: string, file: string): CheckedWeight {
  const fail = (what: string): never => {
    throw new CheckpointFormatError(`${where}: ${what}`, { file });
  };
  if (!isObject(w)) return fail('is not an object');
  const { name, shape, dtype, quantization: q } = w;
  if (typeof name !== 'string') return fail(`"name" is ${name === undefined ? 'missing' : 'not a string'}`);
  const at = (what: string) => fail(`weight ${JSON.stringify(name)}: ${what}`);
  if (!Array.isArray(shape)) return at(`"shape" is ${shape === undefined ? 'missing' : 'not an array'}`);
  shape.forEach((d, i) => isCount(d) || at(`shape[${i}] = ${JSON.stringify(d)} is not a non-negative integer`));
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') {
    return at(`unsupported dtype ${JSON.stringify(dtype)} (supported: float32, int32, bool)`);
  }
  let valueSize = VALUE_SIZE[dtype]!;
  if (q !== undefined) {
    if (!isObject(q)) return at('"quantization" is not an object');
    const qd = q['dtype'];
    if (qd === 'float16') {
      if (dtype !== 'float32') at(`float16 quantization needs dtype float32, not ${dtype}`);
    } else if (qd === 'uint8' || qd === 'uint16') {
      if (dtype === 'bool') at(`${qd} quantization of a bool weight`);
      for (const k of ['scale', 'min'] as const) {
        if (typeof q[k] !== 'number' || !Number.isFinite(q[k])) at(`${qd} quantization needs a finite "${k}"`);
      }
    } else return at(`unknown quantization dtype ${JSON.stringify(qd)} (supported: float16, uint8, uint16)`);
    valueSize = VALUE_SIZE[qd]!;
  }
  let bytes = BigInt(valueSize);
  for (const d of shape as number[]) bytes *= BigInt(d);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) at(`shape [${shape.join(', ')}] is larger than 2^53 bytes`);
  return { spec: w as unknown as TfjsWeightSpec, byteLength: Number(bytes) };
}

/** Validates a parsed model.json and computes every group's byte size. */
function checkManifest(json: unknown, file: string): CheckedGroup[] {
  if (!isObject(json)) throw new CheckpointFormatError('model.json is not a JSON object', { file });
  const manifest = json['weightsManifest'];
  if (!Array.isArray(manifest)) {
    throw new CheckpointFormatError(`"weightsManifest" is ${manifest === undefined ? 'missing' : 'not an array'}`, { file });
  }
  const seen = new Set<string>();
  return manifest.map((g, gi) => {
    const where = `weightsManifest[${gi}]`;
    if (!isObject(g)) throw new CheckpointFormatError(`${where} is not an object`, { file });
    if (!Array.isArray(g['paths'])) throw new CheckpointFormatError(`${where}.paths is not an array`, { file });
    if (!Array.isArray(g['weights'])) throw new CheckpointFormatError(`${where}.weights is not an array`, { file });
    const paths = g['paths'].map((p, i) => checkPath(p, `${where}.paths[${i}]`, file));
    const weights = g['weights'].map((w, i) => checkWeight(w, `${where}.weights[${i}]`, file));
    for (const w of weights) {
      if (seen.has(w.spec.name)) throw new CheckpointFormatError(`weight name ${JSON.stringify(w.spec.name)} appears twice`, { file });
      seen.add(w.spec.name);
    }
    const byteLength = weights.reduce((n, w) => n + w.byteLength, 0);
    if (!Number.isSafeInteger(byteLength)) throw new CheckpointFormatError(`${where} weights exceed 2^53 bytes`, { file });
    if (paths.length === 0 && byteLength > 0) throw new CheckpointFormatError(`${where} has weights but no shard paths`, { file });
    return { paths, weights, byteLength };
  });
}

/** Copies `length` bytes starting at `offset` of the shards' concatenation into a new buffer. */
function copyRange(shards: Uint8Array[], offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  let base = 0;
  for (const s of shards) {
    if (at === length) break;
    const end = base + s.length;
    if (end > offset + at) {
      const from = offset + at - base;
      const n = Math.min(s.length - from, length - at);
      out.set(s.subarray(from, from + n), at);
      at += n;
    }
    base = end;
  }
  return out;
}

function decodeWeight(w: TfjsWeightSpec, bytes: Uint8Array): RawTensor {
  const shape = [...w.shape];
  const q = w.quantization;
  if (!q) return { dtype: w.dtype, shape, data: typedArrayFromBytes(w.dtype, bytes) };
  if (q.dtype === 'float16') return { dtype: 'float32', shape, data: halfBitsToFloat32(typedArrayFromBytes('float16', bytes) as Uint16Array) };
  // uint16 codes: any 2-byte unsigned view will do, and float16's storage is Uint16Array.
  const src = typedArrayFromBytes(q.dtype === 'uint8' ? 'uint8' : 'float16', bytes) as Uint8Array | Uint16Array;
  const scale = q.scale!;
  const min = q.min!;
  if (w.dtype === 'int32') return { dtype: 'int32', shape, data: Int32Array.from(src, (v) => Math.round(v * scale + min)) };
  return { dtype: 'float32', shape, data: Float32Array.from(src, (v) => v * scale + min) };
}

function decodeGroups(groups: CheckedGroup[], loadShard: (path: string) => Uint8Array | undefined, file: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  groups.forEach((g, gi) => {
    const shards = g.paths.map((p) => {
      const s = loadShard(p);
      if (!s) throw new CheckpointFormatError(`shard ${JSON.stringify(p)} of weightsManifest[${gi}] is missing`, { file });
      return s;
    });
    const have = shards.reduce((n, s) => n + s.length, 0);
    if (have !== g.byteLength) {
      const sizes = shards.map((s, i) => `${g.paths[i]}: ${s.length}`).join(', ');
      throw new CheckpointFormatError(`weightsManifest[${gi}] shards hold ${have} bytes (${sizes}) but its weights need ${g.byteLength}`, { file });
    }
    let offset = 0;
    for (const { spec, byteLength } of g.weights) {
      out.set(spec.name, decodeWeight(spec, copyRange(shards, offset, byteLength)));
      offset += byteLength;
    }
  });
  return out;
}

/**
 * Decodes tfjs weights from a parsed `model.json` and its shards held in memory.
 *
 * @param modelJson the `model.json`: its text or bytes, or the parsed value (anything; it is validated)
 * @param loadShard returns a shard's bytes by its manifest path, or undefined when absent
 * @param file      name of the model.json for errors
 * @example
 * ```ts
 * const tensors = decodeTfjsWeights(JSON.parse(text), (p) => shardsByName.get(p), 'model.json');
 * ```
 */
export function decodeTfjsWeights(
  modelJson: unknown,
  loadShard: (path: string) => Uint8Array | undefined,
  file = 'model.json',
): Map<string, RawTensor> {
  const json = typeof modelJson === 'string' || modelJson instanceof Uint8Array ? parseModelJson(modelJson, file) : modelJson;
  return decodeGroups(checkManifest(json, file), loadShard, file);
}

function parseModelJson(text: string | Uint8Array, file: string): unknown {
  try {
    return JSON.parse(typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: true }).decode(text));
  } catch (err) {
    throw new CheckpointFormatError(`not valid UTF-8 JSON (${(err as Error).message})`, { file });
  }
}

/**
 * Reads tfjs weights (`model.json` plus shards): float16-quantized weights come back as float32, int32 and bool
 * as stored. Every shard must exist and the shards of each group must hold exactly its weights' bytes.
 *
 * @param path the model folder or the `model.json` path
 * @example
 * ```ts
 * const tensors = await readTfjsWeights('out/unet-tfjs');
 * tensors.get('conv_in.weight')?.dtype; // 'float32'
 * ```
 */
export async function readTfjsWeights(path: string): Promise<Map<string, RawTensor>> {
  const { file, groups } = await readManifest(path);
  const dir = dirname(file);
  const shards = new Map<string, Uint8Array>();
  for (const g of groups) {
    for (const p of g.paths) {
      const bytes = await readFile(join(dir, p)).catch((err: Error) => {
        throw new FileAccessError(join(dir, p), `cannot read: ${err.message}`);
      });
      shards.set(p, bytes);
    }
  }
  return decodeGroups(groups, (p) => shards.get(p), file);
}

/**
 * The weights a tfjs `model.json` declares (name, dtype, shape) and its shard files, from the manifest alone: the
 * shards are checked to exist with the declared total size, never read.
 *
 * @param path a `model.json` or the folder holding it
 * @example
 * ```ts
 * const { weights, shards } = await readTfjsManifest('out/unet-tfjs');
 * weights[0]!.shape; // [3, 3, 4, 32]
 * ```
 */
export async function readTfjsManifest(path: string): Promise<{ file: string; weights: TfjsWeightSpec[]; shards: string[] }> {
  const { file, groups } = await readManifest(path);
  const dir = dirname(file);
  return { file, weights: groups.flatMap((g) => g.weights.map((w) => w.spec)), shards: groups.flatMap((g) => g.paths.map((p) => join(dir, p))) };
}

async function readManifest(path: string): Promise<{ file: string; groups: CheckedGroup[] }> {
  let file = path;
  try {
    if ((await stat(path)).isDirectory()) file = join(path, 'model.json');
  } catch (err) {
    throw new FileAccessError(path, `cannot open: ${(err as Error).message}`);
  }
  const text = await readFile(file).catch((err: Error) => {
    throw new FileAccessError(file, `cannot read: ${err.message}`);
  });
  const groups = checkManifest(parseModelJson(text, file), file);
  const dir = dirname(file);
  for (const [gi, g] of groups.entries()) {
    let total = 0;
    for (const p of g.paths) {
      const st = await stat(join(dir, p)).catch(() => undefined);
      if (!st?.isFile()) throw new CheckpointFormatError(`shard file ${JSON.stringify(p)} of weightsManifest[${gi}] is missing`, { file: join(dir, p) });
      total += st.size;
    }
    if (total !== g.byteLength) {
      throw new CheckpointFormatError(`weightsManifest[${gi}] shards hold ${total} bytes but its weights need ${g.byteLength}`, { file });
    }
  }
  return { file, groups };
}
