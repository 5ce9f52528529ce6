/**
 * One entry point for every checkpoint format: {@link readCheckpoint} picks the reader from the file's first
 * bytes (or a tfjs `model.json` / folder) and returns named tensors.
 * @module
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CheckpointFormatError } from '../errors.js';
import { openFileSource } from './file-source.js';
import { openSafetensors } from './safetensors.js';
import { readTfjsWeights } from './tfjs-weights.js';
import { detectTorchFormat, readTorchCheckpoint } from './torch.js';
import { materializeTensor, type TorchStorage } from './torch-tensors.js';
import type { RawTensor } from './types.js';

/** Container kinds {@link readCheckpoint} understands. */
export type CheckpointFormat = 'safetensors' | 'zip' | 'torchscript' | 'legacy' | 'pickle' | 'tfjs';

/** Options of {@link readCheckpoint}. */
export interface ReadCheckpointOptions {
  /** Widen float16/bfloat16 to float32 (default true); `false` keeps raw bits. */
  widen?: boolean;
  /** For pickled checkpoints: the sub-tree holding the tensors, e.g. `state_dict` or `G_ema` (default: all). */
  root?: string | readonly string[];
  /** Called after each tensor is read, for progress bars. */
  onProgress?: (done: number, total: number, name: string) => void;
}

/** What {@link readCheckpoint} returns. */
export interface Checkpoint {
  /** The path read. */
  file: string;
  /** Detected container kind. */
  format: CheckpointFormat;
  /** Every tensor by name (dotted state-dict keys; nested dicts joined with `/`). */
  tensors: Map<string, RawTensor>;
  /** safetensors `__metadata__`, or the tfjs `userDefinedMetadata` strings; empty otherwise. */
  metadata: Record<string, string>;
}

/**
 * Detects the container of a checkpoint file from its first bytes; a folder or a `model.json` is `tfjs`.
 *
 * @param path a file, or a folder holding `model.json`
 * @example
 * ```ts
 * await detectCheckpointFormat('v1-5-pruned.ckpt'); // 'zip'
 * ```
 */
export async function detectCheckpointFormat(path: string): Promise<CheckpointFormat> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new CheckpointFormatError('no such file or folder', { file: path });
  if (st.isDirectory() || basename(path) === 'model.json') return 'tfjs';
  const src = await openFileSource(path);
  try {
    const head = await src.read(0, Math.min(src.size, 512));
    const kind = detectTorchFormat(head);
    if (kind === 'safetensors') return 'safetensors';
    if (kind === 'zip' || kind === 'legacy' || kind === 'pickle') return kind;
    if (kind === 'tar') throw new CheckpointFormatError('tar-format torch.save files (PyTorch < 0.4) are not supported', { file: path, offset: 257 });
    throw new CheckpointFormatError('not a safetensors, PyTorch, pickle or tfjs weights file (unrecognized first bytes)', {
      file: path, offset: 0,
    });
  } finally {
    await src.close();
  }
}

/**
 * Reads every tensor of a checkpoint of any supported format. Nothing in the file is executed.
 *
 * @param path a `.safetensors`, `.bin`, `.pt`, `.pth`, `.ckpt`, `.pkl` file, or a tfjs `model.json` / its folder
 * @param opts `widen`, `root`
 * @example
 * ```ts
 * const ck = await readCheckpoint('rosinality-generator.pt', { root: 'g_ema' });
 * ck.format;                          // 'zip'
 * ck.tensors.get('input.input')!.shape; // [1, 512, 4, 4]
 * ```
 */
export async function readCheckpoint(path: string, opts: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  const format = await detectCheckpointFormat(path);
  const widen = opts.widen ?? true;
  if (format === 'tfjs') {
    const st = await stat(path);
    const tensors = await readTfjsWeights(st.isDirectory() ? join(path, 'model.json') : path);
    return { file: path, format, tensors, metadata: {} };
  }
  if (format === 'safetensors') {
    const st = await openSafetensors(path);
    try {
      const names = st.names();
      const tensors = new Map<string, RawTensor>();
      for (const name of names) {
        tensors.set(name, await st.read(name, { widen }));
        opts.onProgress?.(tensors.size, names.length, name);
      }
      return { file: path, format, tensors, metadata: { ...st.metadata } };
    } finally {
      await st.close();
    }
  }
  const ck = await readTorchCheckpoint(path);
  try {
    const refs = ck.tensorRefs(opts.root !== undefined ? { root: opts.root } : {});
    // Read each storage once and drop it after its last view.
    const uses = new Map<TorchStorage, number>();
    for (const t of refs.values()) uses.set(t.storage, (uses.get(t.storage) ?? 0) + 1);
    const cache = new Map<TorchStorage, Promise<Uint8Array>>();
    const tensors = new Map<string, RawTensor>();
    for (const [name, t] of refs) {
      tensors.set(name, await materializeTensor(t, { widen }, cache));
      const left = uses.get(t.storage)! - 1;
      uses.set(t.storage, left);
      if (left === 0) cache.delete(t.storage);
      opts.onProgress?.(tensors.size, refs.size, name);
    }
    return { file: path, format: ck.format, tensors, metadata: {} };
  } finally {
    await ck.close();
  }
}
