/**
 * Kernels tfjs-backend-wasm 4.22 lacks and that gradients need, composed from wasm's own kernels:
 * - `Conv2DBackpropFilter`: filter gradient of conv2d, conv1d, conv2dTranspose, separableConv2d (pointwise),
 *   fused conv2d;
 * - `DepthwiseConv2dNativeBackpropInput` / `…BackpropFilter`: input / filter gradient of depthwiseConv2d
 *   (upfirdn2d, separableConv2d);
 * - `UnsortedSegmentSum`: gradient of gather (embeddings).
 * Found by running `tf.grad` through the common ops on wasm and listing `Kernel '…' not registered` failures.
 * @module
 */
import { getKernel, registerKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter.js';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';

/**
 * The wasm kernel configs semedit adds.
 *
 * @example
 * ```ts
 * WASM_GRADIENT_KERNELS.map((k) => k.kernelName); // ['Conv2DBackpropFilter', …, 'UnsortedSegmentSum']
 * ```
 */
export const WASM_GRADIENT_KERNELS: readonly KernelConfig[] = [
  conv2dBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  unsortedSegmentSumConfig,
];

/**
 * Registers for `wasm` each kernel of {@link WASM_GRADIENT_KERNELS} that is not registered yet (a tfjs release
 * that ships its own keeps it); returns the names it registered. Safe to call any number of times.
 *
 * @example
 * ```ts
 * registerWasmGradientKernels(); // ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', …] the first time
 * registerWasmGradientKernels(); // []
 * ```
 */
export function registerWasmGradientKernels(): string[] {
  const added: string[] = [];
  for (const config of WASM_GRADIENT_KERNELS) {
    if (getKernel(config.kernelName, 'wasm')) continue;
    registerKernel(config);
    added.push(config.kernelName);
  }
  return added;
}

export { conv2dBackpropFilterConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig, unsortedSegmentSumConfig };
