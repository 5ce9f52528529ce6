/**
 * Example: open any checkpoint, list its largest tensors, and turn one conv kernel into a tfjs tensor in NHWC's
 * HWIO layout.
 *
 *   pnpm exec tsx --conditions=@repo/source examples/read-checkpoint.ts path/to/model.safetensors
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { readCheckpoint } from '@semedit/core/io';
import { convWeightToHwio } from '@semedit/core/tensor';

/** Summary the example prints. */
export interface CheckpointSummary {
  format: string;
  tensors: number;
  parameters: number;
  largest: { name: string; shape: number[] }[];
  firstConv?: { name: string; hwio: number[] };
}

/**
 * Reads a checkpoint and summarizes it.
 *
 * @param path a checkpoint of any supported format
 * @example
 * ```ts
 * const s = await summarize('unet/diffusion_pytorch_model.safetensors');
 * // { format: 'safetensors', tensors: 686, parameters: 859520964, ... }
 * ```
 */
export async function summarize(path: string): Promise<CheckpointSummary> {
  await initBackend();
  const ck = await readCheckpoint(path);
  const entries = [...ck.tensors];
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const largest = entries
    .sort((a, b) => numel(b[1].shape) - numel(a[1].shape))
    .slice(0, 5)
    .map(([name, t]) => ({ name, shape: t.shape }));
  const conv = [...ck.tensors].find(([name, t]) => name.endsWith('.weight') && t.shape.length === 4);
  let firstConv: CheckpointSummary['firstConv'];
  if (conv) {
    const w = convWeightToHwio(conv[1], conv[0]);
    firstConv = { name: conv[0], hwio: w.shape };
    w.dispose();
  }
  return {
    format: ck.format,
    tensors: ck.tensors.size,
    parameters: entries.reduce((a, [, t]) => a + numel(t.shape), 0),
    largest,
    firstConv,
  };
}

const isMain = process.argv[1]?.endsWith('read-checkpoint.ts') === true;
if (isMain) {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: read-checkpoint.ts <checkpoint>');
    process.exit(2);
  }
  console.log(JSON.stringify(await summarize(path), null, 2));
  console.log(`tensors alive: ${tf.memory().numTensors}`);
}
