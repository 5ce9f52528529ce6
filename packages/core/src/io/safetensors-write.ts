/**
 * safetensors writer. Layout follows the reference implementation (`safetensors` crate `serialize`): compact
 * JSON header with `__metadata__` first, padded with spaces to a multiple of 8 bytes; tensors sorted by dtype in
 * the reference's order (its `Dtype` enum order descending, which is by element size: I64, F64, F32, I32, BF16,
 * F16, I16, I8, U8, BOOL) and then by name (UTF-8 byte order), so every tensor starts aligned to its element
 * size. Files are written to a temporary file and renamed into place.
 * @module
 */
import { OptionError } from '../errors.js';
import { dtypeToSafetensors, type DType } from './dtype.js';
import { writeFileAtomic } from './file-source.js';
import { checkTensor, leBytes, tensorEntries, type CheckedTensor, type TensorSet } from './tensor-input.js';

export type { TensorInput, TensorSet } from './tensor-input.js';

/** Rank of each dtype in the reference's `Dtype` enum; tensors are written highest rank first. */
const REFERENCE_RANK: Record<DType, number> = {
  bool: 0, uint8: 1, int8: 2, int16: 3, float16: 4, bfloat16: 5, int32: 6, float32: 7, float64: 8, int64: 9,
};

const utf8 = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface Plan {
  header: Uint8Array;
  tensors: CheckedTensor[];
}

function plan(tensors: TensorSet, metadata?: Readonly<Record<string, string>>): Plan {
  const list = tensorEntries(tensors).map(([name, t]) => {
    if (name === '__metadata__') throw new OptionError('tensors', '"__metadata__" is reserved and cannot name a tensor');
    return checkTensor(name, t);
  });
  list.sort((a, b) => REFERENCE_RANK[b.dtype] - REFERENCE_RANK[a.dtype] || compareUtf8(a.name, b.name));
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new OptionError(`metadata[${JSON.stringify(k)}]`, `must be a string, got ${typeof v}`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const t of list) {
    const end = offset + t.data.byteLength;
    const entry = `{"dtype":"${dtypeToSafetensors(t.dtype)}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`;
    parts.push(`${JSON.stringify(t.name)}:${entry}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, tensors: list };
}

function* chunks(p: Plan): Generator<Uint8Array> {
  yield p.header;
  for (const t of p.tensors) yield leBytes(t.data);
}

/**
 * Serializes tensors to safetensors bytes in memory.
 *
 * @param tensors  by name; each `{dtype, shape, data}` with `data` the dtype's typed array (see `TensorInput`)
 * @param metadata optional `__metadata__` string map (e.g. `{ format: 'pt' }`)
 * @example
 * ```ts
 * const bytes = serializeSafetensors({ w: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
 * parseSafetensors(bytes).get('w')?.data; // Float32Array [1, 2]
 * ```
 */
export function serializeSafetensors(tensors: TensorSet, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const p = plan(tensors, metadata);
  const total = p.tensors.reduce((n, t) => n + t.data.byteLength, p.header.length);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks(p)) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Writes tensors to a safetensors file, atomically (temporary file, then rename), streaming tensor by tensor.
 *
 * @param path     destination file
 * @param tensors  by name; each `{dtype, shape, data}` (see `TensorInput`)
 * @param metadata optional `__metadata__` string map
 * @example
 * ```ts
 * await writeSafetensors('out.safetensors', new Map([['b', { dtype: 'int64', shape: [1], data: new BigInt64Array([7n]) }]]));
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorSet,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  await writeFileAtomic(path, chunks(plan(tensors, metadata)));
}
