/**
 * Convolution kernels on oneDNN: Conv2D, FusedConv2D (bias, activation), both backprops, and the depthwise
 * variants. NCHW data, PReLU and a bias that is not per-channel go to the tfjs-backend-cpu kernel.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernel } from '../backend.js';
import { call } from '../errors.js';
import { activationCode } from './activation.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

const pads = (c: ConvInfo): number[] => [c.padInfo.top, c.padInfo.left, c.padInfo.bottom, c.padInfo.right];
const geometry = (c: ConvInfo): [number[], number[], number[]] => [[c.strideHeight, c.strideWidth], [c.dilationHeight, c.dilationWidth], pads(c)];
const isF32 = (...ts: (tf.TensorInfo | undefined)[]): boolean => ts.every((t) => t === undefined || t.dtype === 'float32');

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  leakyreluAlpha?: number;
}

type Shape4 = [number, number, number, number];

/** tfjs's geometry of the convolution a kernel's attributes describe, from its input and filter shapes. */
function convInfo(xShape: readonly number[], filterShape: readonly number[], a: ConvAttrs, depthwise: boolean): ConvInfo {
  return tf.backend_util.computeConv2DInfo([...xShape] as Shape4, [...filterShape] as Shape4, a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode,
    depthwise, a.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast');
}

function forward(name: string, depthwise: boolean, fused: boolean): tf.KernelConfig {
  return nativeKernel(name, (b, { inputs, attrs }, cpu) => {
    const { x, filter, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
    const a = attrs as unknown as ConvAttrs;
    const act = fused ? activationCode(a.activation ?? 'linear') : 0;
    const c = convInfo(x!.shape, filter!.shape, a, depthwise);
    const perChannelBias = bias === undefined || tf.util.sizeFromShape(bias.shape) === c.outChannels;
    if (c.dataFormat !== 'channelsLast' || preluActivationWeights || act === undefined || !perChannelBias || !isF32(x, filter, bias)) {
      return cpu();
    }
    const y = new Float32Array(tf.util.sizeFromShape(c.outShape));
    if (y.length > 0 && tf.util.sizeFromShape(x!.shape) > 0) {
      call(name, () => b.addon.conv2d(b.f32(x!), x!.shape, b.weight(filter!), filter!.shape, y, c.outShape, ...geometry(c),
        bias ? b.f32(bias) : null, act, a.leakyreluAlpha ?? 0.2, depthwise, b.packId(filter!)));
    }
    return b.out(c.outShape, y);
  });
}

function backpropInput(name: string, depthwise: boolean): tf.KernelConfig {
  return nativeKernel(name, (b, { inputs, attrs }, cpu) => {
    const { dy, filter } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as unknown as ConvAttrs & { inputShape: Shape4 };
    const c = convInfo(a.inputShape, filter!.shape, a, depthwise);
    if (c.dataFormat !== 'channelsLast' || !isF32(dy, filter)) return cpu();
    const dx = new Float32Array(tf.util.sizeFromShape(c.inShape));
    if (dx.length > 0 && tf.util.sizeFromShape(dy!.shape) > 0) {
      call(name, () => b.addon.conv2dBackpropInput(b.f32(dy!), dy!.shape, b.weight(filter!), filter!.shape, dx, c.inShape, ...geometry(c), depthwise, b.packId(filter!)));
    }
    return b.out(c.inShape, dx);
  });
}

function backpropFilter(name: string, depthwise: boolean): tf.KernelConfig {
  return nativeKernel(name, (b, { inputs, attrs }, cpu) => {
    const { x, dy } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as unknown as ConvAttrs & { filterShape: Shape4 };
    const c = convInfo(x!.shape, a.filterShape, a, depthwise);
    if (c.dataFormat !== 'channelsLast' || !isF32(x, dy)) return cpu();
    const dw = new Float32Array(tf.util.sizeFromShape(a.filterShape));
    if (tf.util.sizeFromShape(x!.shape) > 0 && tf.util.sizeFromShape(dy!.shape) > 0 && dw.length > 0) {
      call(name, () => b.addon.conv2dBackpropFilter(b.f32(x!), x!.shape, b.f32(dy!), dy!.shape, dw, a.filterShape, ...geometry(c), depthwise));
    }
    return b.out(a.filterShape, dw);
  });
}

/** The convolution kernels the addon runs. */
export const CONV_KERNELS: tf.KernelConfig[] = [
  forward(tf.Conv2D, false, false),
  forward(tf.FusedConv2D, false, true),
  forward(tf.DepthwiseConv2dNative, true, false),
  forward(tf.FusedDepthwiseConv2D, true, true),
  backpropInput(tf.Conv2DBackpropInput, false),
  backpropInput(tf.DepthwiseConv2dNativeBackpropInput, true),
  backpropFilter(tf.Conv2DBackpropFilter, false),
  backpropFilter(tf.DepthwiseConv2dNativeBackpropFilter, true),
];

