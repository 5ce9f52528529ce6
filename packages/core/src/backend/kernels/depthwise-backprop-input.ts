/**
 * `DepthwiseConv2dNativeBackpropInput` for wasm: the input gradient of `depthwiseConv2d`, as a transposed
 * depthwise convolution on wasm's own `DepthwiseConv2dNative` (XNNPACK).
 *
 *   dx[n, h, w, c] = Σ_{i, j, m} dyUp[n, h + top − i·dh, w + left − j·dw, c·M + m] · f[i, j, c, m]
 *
 * where `dyUp` is `dy` with `sh − 1` (`sw − 1`) zeros inserted between rows (columns). Read with the filter
 * flipped, this is a stride-1 depthwise convolution of `dyUp` (padded by `(kh − 1)·dh − top` on top) over its
 * `C·M` channels with dilation `(dh, dw)`; summing each group of `M` channels gives `dx`.
 * @module
 */
import {
  backend_util,
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { padOrCrop, withWasmScope, zeros } from './scope.js';

const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels: cm, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: kh, filterWidth: kw } = info;
  const m = cm / c;

  return withWasmScope(backend as KernelBackend, (s) => {
    if (n * oh * ow === 0 || cm === 0) return zeros(s, [n, h, w, c], 'float32');
    // dyUp: [N, Ho·sh, Wo·sw, C·M] with dy at rows y·sh and columns x·sw, zeros elsewhere.
    let up = dy;
    if (sh > 1 || sw > 1) {
      const spread = s.run('Reshape', { x: dy }, { shape: [n, oh, 1, ow, 1, cm] });
      const padded = s.run('PadV2', { x: spread }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
      up = s.run('Reshape', { x: padded }, { shape: [n, oh * sh, ow * sw, cm] });
    }
    const { top, left } = info.padInfo;
    const upPadded = padOrCrop(s, up, [
      [0, 0],
      [(kh - 1) * dh - top, h + top - oh * sh],
      [(kw - 1) * dw - left, w + left - ow * sw],
      [0, 0],
    ]);
    const f = s.run('Reshape', { x: filter }, { shape: [kh, kw, cm, 1] });
    const flipped = s.run('Reverse', { x: f }, { dims: [0, 1] });
    const out = s.run('DepthwiseConv2dNative', { x: upPadded, filter: flipped }, {
      strides: [1, 1],
      pad: 'valid',
      dilations: [dh, dw],
      dataFormat: 'NHWC',
    }); // [N, H, W, C·M]
    if (m === 1) return out;
    const grouped = s.run('Reshape', { x: out }, { shape: [n, h, w, c, m] });
    return s.run('Sum', { x: grouped }, { axis: [4], keepDims: false });
  });
};

/**
 * Kernel config registering `DepthwiseConv2dNativeBackpropInput` for the wasm backend.
 *
 * @example
 * ```ts
 * if (!tf.getKernel(DepthwiseConv2dNativeBackpropInput, 'wasm')) tf.registerKernel(depthwiseBackpropInputConfig);
 * ```
 */
export const depthwiseBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput,
};
