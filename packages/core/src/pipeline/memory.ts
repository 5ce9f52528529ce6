/**
 * Refusing models that cannot fit before loading them: the wasm heap is one 4 GiB space (design.md §2), so a full
 * SD 1.5 in float32 (about 4.3 GB of weights) cannot live there; the error says which backends can hold it.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, wasmHeapStats } from '../backend/index.js';
import { SemeditError } from '../errors.js';
import { openSafetensors } from '../io/safetensors.js';
import { readTorchCheckpoint } from '../io/torch.js';

/** A model needs more memory than the active backend has. */
export class ModelTooLargeError extends SemeditError {
  /**
   * @param what          the model
   * @param neededBytes   float32 bytes of its weights
   * @param freeBytes     what the backend has free
   * @param backend       the active backend
   */
  constructor(readonly what: string, readonly neededBytes: number, readonly freeBytes: number, readonly backend: string) {
    const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;
    super(
      'E_MODEL_TOO_LARGE',
      `${what} needs ${gib(neededBytes)} of float32 weights; the ${backend} backend has ${gib(freeBytes)} free. ` +
        'The tensorflow backend (tfjs-node / tfjs-node-gpu, process memory), webgpu (GPU memory) or cpu (JS heap, slow) can hold it.',
    );
  }
}

/**
 * Float32 bytes the weights in these files will take once loaded, from their headers only (no tensor is read).
 *
 * @param files safetensors or PyTorch checkpoints
 * @example
 * ```ts
 * await weightBytes(['unet/diffusion_pytorch_model.safetensors']); // 3438167536 for SD 1.5's UNet
 * ```
 */
export async function weightBytes(files: readonly string[]): Promise<number> {
  let total = 0;
  for (const f of files) {
    if (f.endsWith('.safetensors')) {
      const st = await openSafetensors(f);
      for (const n of st.names()) total += 4 * st.info(n).shape.reduce((a, b) => a * b, 1);
      await st.close();
    } else {
      const ck = await readTorchCheckpoint(f);
      for (const t of ck.tensorRefs().values()) total += 4 * t.numel;
      await ck.close();
    }
  }
  return total;
}

/**
 * Throws {@link ModelTooLargeError} when `bytes` of weights will not fit the active backend (the wasm heap guard's
 * free space, keeping `headroom` for activations). Other backends are not limited here.
 *
 * @param what     the model, for the message
 * @param bytes    float32 bytes of its weights
 * @param headroom fraction of the free space kept for activations (default 0.15)
 * @example
 * ```ts
 * assertFitsBackend('SD 1.5 (sd15/)', await weightBytes(files));
 * ```
 */
export function assertFitsBackend(what: string, bytes: number, headroom = 0.15): void {
  const name = backendInfo()?.name ?? tf.getBackend();
  if (name !== 'wasm') return;
  const stats = wasmHeapStats();
  if (!stats) return;
  if (bytes > stats.freeBytes * (1 - headroom)) throw new ModelTooLargeError(what, bytes, stats.freeBytes, name);
}
