import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { ImageValueError } from './errors.js';
import { colormapRgb, heatmapToImage } from './heatmap.js';
import type { Colormap } from './heatmap.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('colour maps', () => {
  it('jet follows the closed form clamp(1.5 - |4t - k|) for k = 3, 2, 1', () => {
    for (let i = 0; i <= 64; i++) {
      const t = i / 64;
      const ref = [3, 2, 1].map((k) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - k)))));
      expect(colormapRgb(t, 'jet'), `t=${t}`).toEqual(ref);
    }
    expect(colormapRgb(0, 'jet')).toEqual([0, 0, 128]); // dark blue
    expect(colormapRgb(1, 'jet')).toEqual([128, 0, 0]); // dark red
  });

  it('viridis starts at #440154, is #21908C in the middle and ends at #FDE725 (matplotlib)', () => {
    expect(colormapRgb(0, 'viridis')).toEqual([0x44, 0x01, 0x54]);
    expect(colormapRgb(0.5, 'viridis')).toEqual([0x21, 0x90, 0x8c]);
    expect(colormapRgb(1, 'viridis')).toEqual([0xfd, 0xe7, 0x25]);
  });

  it('viridis luminance increases monotonically (its defining property), up to channel rounding', () => {
    // Rounding each channel moves the luminance by at most 0.5 (the weights sum to 1), so neighbours may dip by < 1.
    let prev = -1;
    for (let i = 0; i <= 256; i++) {
      const [r, g, b] = colormapRgb(i / 256, 'viridis');
      const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
      expect(y, `t=${i / 256}`).toBeGreaterThan(prev - 1);
      prev = y;
    }
  });

  it('clamps t outside 0..1 and rejects unknown maps', () => {
    expect(colormapRgb(-5, 'gray')).toEqual([0, 0, 0]);
    expect(colormapRgb(7, 'gray')).toEqual([255, 255, 255]);
    expect(() => colormapRgb(0.5, 'hot' as Colormap)).toThrow(OptionError);
  });
});

describe('heatmapToImage', () => {
  it('min-max normalizes a tensor map to gray: round(255 (v - min) / (max - min))', () => {
    const values = [[-2, 0], [1, 4]];
    const t = tf.tensor2d(values);
    const before = tf.memory().numTensors;
    const img = heatmapToImage(t, { colormap: 'gray' });
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
    expect([img.width, img.height, img.channels]).toEqual([2, 2, 1]);
    expect(Array.from(img.data)).toEqual(values.flat().map((v) => Math.round((255 * (v + 2)) / 6)));
  });

  it("uses the values as they are (clamped) with normalize 'none', and colours with viridis by default", () => {
    const img = heatmapToImage({ width: 3, height: 1, data: [-1, 0.5, 2] }, { normalize: 'none' });
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual([...colormapRgb(0, 'viridis'), ...colormapRgb(0.5, 'viridis'), ...colormapRgb(1, 'viridis')]);
  });

  it('maps a constant map to the bottom of the colour map', () => {
    const img = heatmapToImage({ width: 2, height: 2, data: [3, 3, 3, 3] }, { colormap: 'jet' });
    expect(Array.from(img.data)).toEqual(Array(4).fill(colormapRgb(0, 'jet')).flat());
  });

  it('refuses NaN, bad shapes and bad options', () => {
    expect(() => heatmapToImage({ width: 2, height: 1, data: [NaN, 1] }, { name: 'attn' })).toThrow(/attn: 1 NaN/);
    expect(() => heatmapToImage({ width: 2, height: 1, data: [NaN, 1] })).toThrow(ImageValueError);
    expect(() => heatmapToImage({ width: 2, height: 2, data: [1, 2, 3] })).toThrow(ShapeMismatchError);
    const t3 = tf.zeros([2, 2, 1]);
    expect(() => heatmapToImage(t3)).toThrow(ShapeMismatchError);
    t3.dispose();
    expect(() => heatmapToImage({ width: 1, height: 1, data: [0] }, { normalize: 'log' as 'none' })).toThrow(OptionError);
  });
});
