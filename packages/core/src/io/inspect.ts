/**
 * Listing a checkpoint's tensors from its headers alone: the safetensors JSON header, the pickles of a PyTorch
 * file (no storage record is read or inflated), or a tfjs `model.json`. A multi-GiB file is listed in
 * milliseconds, and a zip bomb inside a checkpoint is never expanded.
 * @module
 */
import { detectCheckpointFormat, type CheckpointFormat } from './checkpoint.js';
import { DTYPE_SIZE, type DType } from './dtype.js';
import { openSafetensors } from './safetensors.js';
import { readTfjsManifest } from './tfjs-weights.js';
import { readTorchCheckpoint } from './torch.js';
import type { TensorInfo } from './types.js';

/**
 * What {@link inspectCheckpoint} returns.
 *
 * @example
 * ```ts
 * const r: CheckpointListing = await inspectCheckpoint('model.safetensors');
 * r.tensors.length;
 * ```
 */
export interface CheckpointListing {
  file: string;
  format: CheckpointFormat;
  /** safetensors `__metadata__`; empty for other formats. */
  metadata: Record<string, string>;
  /** Every tensor's name, stored dtype and shape, in file order. */
  tensors: TensorInfo[];
  /** Bytes the tensors' data take as stored. */
  dataBytes: number;
}

const bytesOf = (t: TensorInfo): number => t.shape.reduce((a, b) => a * b, 1) * (DTYPE_SIZE[t.dtype] ?? 4);

/**
 * Lists the tensors of a checkpoint of any supported format without reading their data.
 *
 * @param path a checkpoint file, or a tfjs `model.json` / its folder
 * @param opts `root`: for pickled checkpoints, the sub-tree to list (e.g. `state_dict`)
 * @example
 * ```ts
 * const { format, tensors } = await inspectCheckpoint('v1-5-pruned-emaonly.ckpt', { root: 'state_dict' });
 * ```
 */
export async function inspectCheckpoint(path: string, opts: { root?: string | readonly string[] } = {}): Promise<CheckpointListing> {
  const format = await detectCheckpointFormat(path);
  let tensors: TensorInfo[];
  let metadata: Record<string, string> = {};
  if (format === 'tfjs') {
    const m = await readTfjsManifest(path);
    tensors = m.weights.map((w) => ({ name: w.name, dtype: (w.quantization?.original_dtype ?? w.dtype) as DType, shape: [...w.shape] }));
  } else if (format === 'safetensors') {
    const st = await openSafetensors(path);
    try {
      tensors = st.names().map((name) => ({ name, dtype: st.info(name).dtype, shape: [...st.info(name).shape] }));
      metadata = { ...st.metadata };
    } finally {
      await st.close();
    }
  } else {
    const ck = await readTorchCheckpoint(path);
    try {
      tensors = [...ck.tensorRefs(opts.root !== undefined ? { root: opts.root } : {})].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] }));
      return { file: path, format: ck.format, metadata, tensors, dataBytes: tensors.reduce((n, t) => n + bytesOf(t), 0) };
    } finally {
      await ck.close();
    }
  }
  return { file: path, format, metadata, tensors, dataBytes: tensors.reduce((n, t) => n + bytesOf(t), 0) };
}
