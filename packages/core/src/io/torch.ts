/**
 * Reading PyTorch checkpoints without Python and without executing anything: zip checkpoints (`.bin .pt .pth
 * .ckpt`, TorchScript archives), legacy `torch.save` files, and plain pickles such as NVLabs network snapshots
 * (`.pkl`). The kind is detected from the first bytes. Tensors come out as lazy views; their bytes are read when
 * materialized.
 * @module
 */
import { CheckpointFormatError } from '../errors.js';
import type { RawTensor } from './types.js';
import { bufferSource, openFileSource, type ByteSource } from './file-source.js';
import { DEFAULT_PICKLE_LIMITS, unpickle, type PickleLimits } from './pickle.js';
import { OPCODE_NAMES } from './pickle-ops.js';
import { flattenStateDict, type FlattenOptions } from './torch-flatten.js';
import { torchGlobals } from './torch-globals.js';
import { isLegacyTorchSave, loadFromBytesIn, readLegacy, type LegacyContext } from './torch-legacy.js';
import { materializeTensors, type MaterializeOptions, type TorchTensor } from './torch-tensors.js';
import { readTorchZip } from './torch-zip.js';
import { readZip, type ZipOptions } from './zip.js';

/**
 * Container kinds {@link readTorchCheckpoint} reads.
 *
 * @example
 * ```ts
 * const f: TorchFormat = (await readTorchCheckpoint('ViT-B-32.pt')).format; // 'torchscript'
 * ```
 */
export type TorchFormat = 'zip' | 'torchscript' | 'legacy' | 'pickle';

/**
 * Options of {@link readTorchCheckpoint}.
 *
 * @example
 * ```ts
 * await readTorchCheckpoint(bytes, { name: 'upload.pt', limits: { maxOps: 1e6 } });
 * ```
 */
export interface ReadTorchOptions extends ZipOptions {
  /** Name for error messages when reading from memory (default `<buffer>`). */
  name?: string;
  /** Unpickler limits (operations are counted over all pickles of the file, nested ones included). */
  limits?: Partial<PickleLimits>;
}

/**
 * An opened PyTorch checkpoint. Keep it open while reading tensors; `close()` releases the file.
 *
 * @example
 * ```ts
 * const pkl = await readTorchCheckpoint('network-snapshot.pkl');
 * const g = await pkl.tensors({ root: 'G_ema' }); // 'mapping.fc0.weight', 'synthesis.b4.const', ...
 * await pkl.close();
 * ```
 */
export interface TorchCheckpoint {
  /** Path or label. */
  readonly file: string;
  /** Detected container kind. */
  readonly format: TorchFormat;
  /** The unpickled object: `Map`s, arrays, primitives, inert `PickleObject`s, with `TorchTensor` views inside. */
  readonly object: unknown;
  /** TorchScript archives: the unpickled `constants.pkl` (see `torchScriptConstants`); otherwise undefined. */
  readonly constants: unknown;
  /** Tensor views by flattened name (see `flattenStateDict`), without reading any data. */
  tensorRefs(options?: FlattenOptions): Map<string, TorchTensor>;
  /** Reads the tensors by flattened name (float16/bfloat16 widened to float32 unless `widen: false`). */
  tensors(options?: FlattenOptions & MaterializeOptions): Promise<Map<string, RawTensor>>;
  /** Releases the file handle. */
  close(): Promise<void>;
}

/**
 * Container kind from a file's first bytes (`tar`: the pre-0.4 torch.save format, unsupported).
 *
 * @example
 * ```ts
 * const k: DetectedKind = detectTorchFormat(head); // 'legacy'
 * ```
 */
export type DetectedKind = 'zip' | 'legacy' | 'pickle' | 'tar' | 'safetensors' | 'unknown';

/**
 * Detects a checkpoint's container from its first bytes (512 are enough).
 *
 * @param head the start of the file
 * @example
 * ```ts
 * detectTorchFormat(new Uint8Array([0x50, 0x4b, 0x03, 0x04])); // 'zip'
 * ```
 */
export function detectTorchFormat(head: Uint8Array): DetectedKind {
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) return 'zip';
  if (isLegacyTorchSave(head)) return 'legacy';
  if (head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') return 'tar';
  if (head.length > 9 && head[8] === 0x7b && head[9] === 0x22 && head[6] === 0 && head[7] === 0) return 'safetensors';
  if (head[0] === 0x80 && (head[1] ?? 99) <= 5) return 'pickle';
  if (head.length > 0 && OPCODE_NAMES[head[0]!] !== undefined && head[0] !== 0x2e) return 'pickle';
  return 'unknown';
}

class Checkpoint implements TorchCheckpoint {
  constructor(
    readonly file: string,
    readonly format: TorchFormat,
    readonly object: unknown,
    readonly constants: unknown,
    private readonly src: ByteSource,
  ) {}
  tensorRefs(options: FlattenOptions = {}): Map<string, TorchTensor> {
    return flattenStateDict(this.object, options);
  }
  tensors(options: FlattenOptions & MaterializeOptions = {}): Promise<Map<string, RawTensor>> {
    return materializeTensors(this.tensorRefs(options), options);
  }
  close(): Promise<void> {
    return this.src.close();
  }
}

async function open(src: ByteSource, options: ReadTorchOptions): Promise<TorchCheckpoint> {
  const ctx: LegacyContext = {
    file: src.name, limits: options.limits, depth: 0,
    budget: { opsLeft: options.limits?.maxOps ?? DEFAULT_PICKLE_LIMITS.maxOps },
  };
  const kind = detectTorchFormat(await src.read(0, Math.min(src.size, 512)));
  const fail = (detail: string): never => {
    throw new CheckpointFormatError(detail, { file: src.name, offset: 0 });
  };
  switch (kind) {
    case 'zip': {
      const zip = await readZip(src, options);
      const c = await readTorchZip(zip, ctx);
      return new Checkpoint(src.name, c.torchscript ? 'torchscript' : 'zip', c.object, c.constants, src);
    }
    case 'legacy':
      return new Checkpoint(src.name, 'legacy', (await readLegacy(src, ctx)).object, undefined, src);
    case 'pickle': {
      const object = unpickle(await src.read(0, src.size), {
        file: src.name, limits: ctx.limits, budget: ctx.budget,
        resolveGlobal: torchGlobals({ loadFromBytes: loadFromBytesIn(ctx) }),
      });
      return new Checkpoint(src.name, 'pickle', object, undefined, src);
    }
    case 'tar':
      return fail('tar-based torch.save files (PyTorch before 0.4) are not supported; re-save with a current PyTorch');
    case 'safetensors':
      return fail('this is a safetensors file, not a PyTorch checkpoint');
    case 'unknown':
      return fail('not a PyTorch checkpoint (neither zip, legacy torch.save nor pickle)');
  }
}

/**
 * Opens a PyTorch checkpoint from a path (read lazily: zip directories, pickles, then storages on demand) or
 * from bytes in memory.
 *
 * @param input   file path, or the file's bytes
 * @param options see {@link ReadTorchOptions}
 * @example
 * ```ts
 * const ckpt = await readTorchCheckpoint('v1-5-pruned-emaonly.ckpt');
 * ckpt.format;                                          // 'zip'
 * const sd = await ckpt.tensors({ root: 'state_dict' }); // Map<string, RawTensor>
 * sd.get('model.diffusion_model.out.2.bias')!.shape;     // [4]
 * await ckpt.close();
 * ```
 */
export async function readTorchCheckpoint(input: string | Uint8Array, options: ReadTorchOptions = {}): Promise<TorchCheckpoint> {
  const src = typeof input === 'string'
    ? await openFileSource(input)
    : bufferSource(new Uint8Array(input.buffer, input.byteOffset, input.byteLength), options.name);
  try {
    return await open(src, options);
  } catch (err) {
    await src.close();
    throw err;
  }
}
