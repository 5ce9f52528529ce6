/**
 * `DepthwiseConv2dNativeBackpropFilter` for wasm: the filter gradient of `depthwiseConv2d`, per filter tap, on
 * wasm's own kernels.
 *
 *   dW[i, j, c, m] = Σ_{n, y, x} xp[n, y·sh + i·dh, x·sw + j·dw, c] · dy[n, y, x, c·M + m]
 *
 * with `xp` the input padded by the forward pass's top/left padding, `M` the channel multiplier and `dh, dw`
 * the dilations. Each tap is a strided window of `xp` (`[N·Ho·Wo, C, 1]`) times `dy` (`[N·Ho·Wo, C, M]`),
 * summed over the first axis.
 * @module
 */
import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { padOrCrop, withWasmScope, zeros } from './scope.js';

const NO_MASKS = { beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 };

const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: kh, filterWidth: kw } = info;
  const m = outChannels / c;

  return withWasmScope(backend as KernelBackend, (s) => {
    const k = n * oh * ow;
    if (k === 0 || c === 0 || m === 0) return zeros(s, [kh, kw, c, m], 'float32');
    const { top, left } = info.padInfo;
    const xp = padOrCrop(s, x, [
      [0, 0],
      [top, (oh - 1) * sh + (kh - 1) * dh + 1 - top - h],
      [left, (ow - 1) * sw + (kw - 1) * dw + 1 - left - w],
      [0, 0],
    ]);
    const dy3 = s.run('Reshape', { x: dy }, { shape: [k, c, m] });
    const taps: TensorInfo[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const begin = [0, i * dh, j * dw, 0];
        const end = [n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, c];
        const win = s.run('StridedSlice', { x: xp }, { begin, end, strides: [1, sh, sw, 1], ...NO_MASKS });
        const x3 = s.run('Reshape', { x: win }, { shape: [k, c, 1] });
        const prod = s.run('Multiply', { a: x3, b: dy3 }); // [N·Ho·Wo, C, M]
        taps.push(s.run('Sum', { x: prod }, { axis: [0], keepDims: false })); // [C, M]
      }
    }
    const stacked = taps.length === 1 ? taps[0]! : s.run('Concat', taps, { axis: 0 });
    return s.run('Reshape', { x: stacked }, { shape: [kh, kw, c, m] });
  });
};

/**
 * Kernel config registering `DepthwiseConv2dNativeBackpropFilter` for the wasm backend.
 *
 * @example
 * ```ts
 * if (!tf.getKernel(DepthwiseConv2dNativeBackpropFilter, 'wasm')) tf.registerKernel(depthwiseBackpropFilterConfig);
 * ```
 */
export const depthwiseBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter,
};
