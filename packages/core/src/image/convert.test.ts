import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { floatsToImage, imagesToTensor, imageToTensor, tensorToImage, tensorToImages } from './convert.js';
import type { PixelRange } from './convert.js';
import { ImageValueError } from './errors.js';
import { batchPaths, readImageTensor, writeImageTensor } from './files.js';
import { createImage } from './image.js';
import { readPng, writePng } from './png.js';

const dir = mkdtempSync(join(tmpdir(), 'semedit-convert-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** numpy's round (half to even), written out for the reference values. */
const npRound = (v: number) => (Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
/** diffusers: `(x / 2 + 0.5).clamp(0, 1)`, then `(x * 255).round()` in float32. */
const f32 = Math.fround;
const diffusersPixel = (x: number) => npRound(f32(Math.min(Math.max(f32(f32(x / 2) + 0.5), 0), 1) * 255));

/** Runs `fn` and checks that it leaves no tensor behind (beyond `keep`). */
async function noLeak<T>(fn: () => T | Promise<T>, keep = 0): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  expect(tf.memory().numTensors).toBe(before + keep);
  return out;
}

describe('tensor -> image (diffusers postprocess)', () => {
  it('maps -1 to 0, 0 to 128 and 1 to 255, and matches the formula over a sweep', async () => {
    const xs = [-1, 0, 1, -2, 2, 0.5, -0.5, 0.25, 1 / 255, -1 + 1 / 127.5, 0.9999, -0.0039215689, 0.0039215689];
    for (let i = -300; i <= 300; i++) xs.push(i / 256);
    const t = tf.tensor3d(xs, [1, xs.length, 1]);
    const img = await noLeak(() => tensorToImage(t, { range: '-1-1' }));
    t.dispose();
    expect(Array.from(img.data.subarray(0, 3))).toEqual([0, 128, 255]);
    expect(Array.from(img.data)).toEqual(xs.map(diffusersPixel));
  });

  it('rounds exact halves to even (numpy) in the 0-1 and 0-255 ranges', () => {
    const xs = [0, 1, 0.5, -3, 7, 3.5 / 255, 4.5 / 255, 0.3];
    const img = floatsToImage(Float32Array.from(xs), [1, xs.length, 1], { range: '0-1' });
    expect(img.data[2]).toBe(128); // 0.5 * 255 = 127.5 -> 128 (even)
    expect(Array.from(img.data)).toEqual(Array.from(Float32Array.from(xs), (x) => npRound(f32(Math.min(Math.max(x, 0), 1) * 255))));
    const raw = floatsToImage([0.5, 1.5, 2.5, 254.5, 300, -4, 17.2], [1, 7, 1], { range: '0-255' });
    expect(Array.from(raw.data)).toEqual([0, 2, 2, 254, 255, 0, 17]);
  });

  it('accepts [1, H, W, C] and converts a batch to N images', () => {
    const t = tf.tensor4d([-1, -1, -1, 1, 1, 1], [2, 1, 1, 3]);
    expect(() => tensorToImage(t, { range: '-1-1' })).toThrow(ShapeMismatchError);
    const imgs = tensorToImages(t, { range: '-1-1' });
    expect(imgs.map((i) => Array.from(i.data))).toEqual([[0, 0, 0], [255, 255, 255]]);
    const second = tf.slice(t, [1], [1]);
    const one = tensorToImage(second, { range: '-1-1' });
    expect([one.width, one.height, one.channels, ...one.data]).toEqual([1, 1, 3, 255, 255, 255]);
    tf.dispose([t, second]);
  });

  it('refuses NaN and infinities with a typed error that counts them', () => {
    const t = tf.tensor3d([0, NaN, NaN, Infinity, 0, 0], [1, 2, 3]);
    let err: unknown;
    try {
      tensorToImage(t, { range: '-1-1', name: 'decoded' });
    } catch (e) {
      err = e;
    }
    t.dispose();
    expect(err).toBeInstanceOf(ImageValueError);
    const e = err as ImageValueError;
    expect([e.nanCount, e.infCount, e.total, e.code]).toEqual([2, 1, 6, 'E_IMAGE_VALUE']);
    expect(e.message).toMatch(/decoded: 2 NaN and 1 infinite/);
  });

  it('rejects bad ranks, channel counts and ranges', () => {
    expect(() => floatsToImage([0, 0], [1, 1, 2], { range: '0-1' })).toThrow(ShapeMismatchError);
    expect(() => floatsToImage([0], [1, 1, 3], { range: '0-1' })).toThrow(ShapeMismatchError);
    expect(() => floatsToImage([0], [1, 1, 1], { range: '0-2' as PixelRange })).toThrow(OptionError);
    const t = tf.zeros([4, 4]);
    expect(() => tensorToImage(t, { range: '0-1' })).toThrow(ShapeMismatchError);
    t.dispose();
  });
});

describe('image -> tensor (diffusers preprocess)', () => {
  it.each([
    ['0-255', (v: number) => v],
    ['0-1', (v: number) => f32(v / 255)],
    ['-1-1', (v: number) => f32(2 * f32(v / 255) - 1)],
  ] as const)('maps samples to the %s range in float32', async (range, ref) => {
    const img = createImage(256, 1, 1);
    img.data.forEach((_, i) => (img.data[i] = i));
    const t = await noLeak(() => imageToTensor(img, { range }), 1);
    expect(t.shape).toEqual([1, 1, 256, 1]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.dataSync())).toEqual(Array.from({ length: 256 }, (_, v) => ref(v)));
    t.dispose();
  });

  it('drops or keeps alpha, and round-trips through tensorToImage exactly', () => {
    const img = createImage(2, 2, 4, [10, 20, 30, 40]);
    img.data[5] = 99;
    const dropped = imageToTensor(img, { range: '-1-1' });
    const kept = imageToTensor(img, { range: '-1-1', alpha: 'keep' });
    expect(dropped.shape).toEqual([1, 2, 2, 3]);
    expect(kept.shape).toEqual([1, 2, 2, 4]);
    expect(Array.from(tensorToImage(kept, { range: '-1-1' }).data)).toEqual(Array.from(img.data));
    expect(Array.from(tensorToImage(dropped, { range: '-1-1' }).data)).toEqual([10, 20, 30, 10, 99, 30, 10, 20, 30, 10, 20, 30]);
    tf.dispose([dropped, kept]);
  });

  it('stacks same-size images and rejects mixed sizes', () => {
    const a = createImage(3, 2, 3, 0);
    const b = createImage(3, 2, 3, 255);
    const t = imagesToTensor([a, b], { range: '0-1' });
    expect(t.shape).toEqual([2, 2, 3, 3]);
    const max = tf.max(t, [1, 2, 3]);
    expect(Array.from(max.dataSync())).toEqual([0, 1]);
    tf.dispose([t, max]);
    expect(() => imagesToTensor([a, createImage(2, 2, 3)], { range: '0-1' })).toThrow(ShapeMismatchError);
    expect(() => imagesToTensor([], { range: '0-1' })).toThrow(OptionError);
  });
});

describe('image files <-> tensors', () => {
  it('reads a PNG as [1, H, W, C] and writes it back unchanged', async () => {
    const img = createImage(5, 3, 3);
    img.data.forEach((_, i) => (img.data[i] = (i * 37) % 256));
    const src = join(dir, 'src.png');
    await writePng(src, img);
    const t = await noLeak(() => readImageTensor(src, { range: '-1-1' }), 1);
    expect(t.shape).toEqual([1, 3, 5, 3]);
    const out = join(dir, 'out.png');
    expect(await noLeak(() => writeImageTensor(out, t, { range: '-1-1' }))).toEqual([out]);
    t.dispose();
    expect(Array.from((await readPng(out)).data)).toEqual(Array.from(img.data));
  });

  it('converts gray files to RGB on request', async () => {
    const path = join(dir, 'gray.png');
    await writePng(path, createImage(2, 2, 1, 51));
    const t = await readImageTensor(path, { range: '0-1', channels: 3 });
    expect(t.shape).toEqual([1, 2, 2, 3]);
    expect(Array.from(t.dataSync())).toEqual(Array(12).fill(f32(51 / 255)));
    t.dispose();
  });

  it('writes a batch as N numbered files or as one grid', async () => {
    expect(batchPaths('a/out.png', 2)).toEqual(['a/out-0.png', 'a/out-1.png']);
    expect(batchPaths('s{i}.png', 1)).toEqual(['s0.png']);
    const t = tf.tensor4d([-1, 1, 0], [3, 1, 1, 1]);
    const files = await writeImageTensor(join(dir, 'b.png'), t, { range: '-1-1' });
    expect(files).toEqual([0, 1, 2].map((i) => join(dir, `b-${i}.png`)));
    expect(await Promise.all(files.map(async (f) => (await readPng(f)).data[0]))).toEqual([0, 255, 128]);
    const grid = join(dir, 'grid.png');
    await writeImageTensor(grid, t, { range: '-1-1', grid: { cols: 3, padding: 1, background: 7 } });
    const g = await readPng(grid);
    expect([g.width, g.height]).toEqual([7, 3]);
    expect(Array.from(g.data.subarray(7, 14))).toEqual([7, 0, 7, 255, 7, 128, 7]);
    t.dispose();
  });

  it('writes nothing when any image of the batch holds NaN', async () => {
    const sub = mkdtempSync(join(dir, 'nan-'));
    const t = tf.tensor4d([0, 0, NaN], [3, 1, 1, 1]);
    await expect(writeImageTensor(join(sub, 'x.png'), t, { range: '-1-1' })).rejects.toThrow(/x\.png\[2\]: 1 NaN/);
    t.dispose();
    expect(readdirSync(sub)).toEqual([]);
    expect(existsSync(join(sub, 'x-0.png'))).toBe(false);
  });
});
