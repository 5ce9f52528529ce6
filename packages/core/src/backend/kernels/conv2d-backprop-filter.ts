/**
 * `Conv2DBackpropFilter` for wasm: the filter gradient of `conv2d`, as one matrix product per filter tap on
 * wasm's own (XNNPACK, threaded) kernels.
 *
 *   dW[i, j, c, o] = Σ_{n, y, x} xp[n, y·sh + i, x·sw + j, c] · dy[n, y, x, o]
 *
 * with `xp` the input padded by the forward pass's top/left padding. For each tap (i, j) the strided window of
 * `xp` is a `[Cin, N·Ho·Wo]` matrix (taken from `x` transposed once to `[Cin, N, H, W]`), and the tap is that
 * matrix times `dy` as `[N·Ho·Wo, Cout]`: a rank-2 product without transposes, XNNPACK's fast path. Memory
 * beyond the inputs: one transposed copy of `x` and one window at a time.
 * @module
 */
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { padOrCrop, withWasmScope, zeros } from './scope.js';

const NO_MASKS = { beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 };

const conv2dBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outChannels: cout } = info;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;

  return withWasmScope(backend as KernelBackend, (s) => {
    const k = n * oh * ow;
    if (k === 0 || cin === 0 || cout === 0) return zeros(s, [kh, kw, cin, cout], 'float32');
    const toNhwc = (t: TensorInfo) => (info.dataFormat === 'channelsLast' ? t : s.run('Transpose', { x: t }, { perm: [0, 2, 3, 1] }));
    // x as [Cin, N, H', W'], padded (or cropped) so that tap (i, j) reads rows i + y·sh and columns j + x·sw.
    const { top, left } = info.padInfo;
    const xt = padOrCrop(s, s.run('Transpose', { x: toNhwc(x) }, { perm: [3, 0, 1, 2] }), [
      [0, 0],
      [0, 0],
      [top, (oh - 1) * sh + kh - top - h],
      [left, (ow - 1) * sw + kw - left - w],
    ]);
    const dyMat = s.run('Reshape', { x: toNhwc(dy) }, { shape: [k, cout] }); // [N·Ho·Wo, Cout]
    const taps: TensorInfo[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const end = [cin, n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1];
        const win = s.run('StridedSlice', { x: xt }, { begin: [0, 0, i, j], end, strides: [1, 1, sh, sw], ...NO_MASKS });
        const a = s.run('Reshape', { x: win }, { shape: [cin, k] });
        taps.push(s.run('BatchMatMul', { a, b: dyMat }, { transposeA: false, transposeB: false })); // [Cin, Cout]
      }
    }
    const stacked = taps.length === 1 ? taps[0]! : s.run('Concat', taps, { axis: 0 });
    return s.run('Reshape', { x: stacked }, { shape: [kh, kw, cin, cout] });
  });
};

/**
 * Kernel config registering `Conv2DBackpropFilter` for the wasm backend.
 *
 * @example
 * ```ts
 * if (!tf.getKernel(Conv2DBackpropFilter, 'wasm')) tf.registerKernel(conv2dBackpropFilterConfig);
 * ```
 */
export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter,
};
