/**
 * The shapes world's data: deterministic by (seed, index, split), the held-out split kept apart while every pair
 * of attribute values still occurs in training, drawings whose segmentation agrees with their geometry and colours,
 * captions that name every attribute, batches as tensors without leaks, and typed errors for bad options.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { OptionError } from '@semedit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  COLOURS, COLOUR_NAMES, POSITIONS, SHAPES, SIZES, WORLD_SIZE, captionOf, captionVariants, combinations, isHeldOut, objectFrame, renderScene,
  sceneAt, shapesBatch, shapesExample, type Scene,
} from '../index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const one = (o: Partial<Scene['objects'][0]> = {}, background: Scene['background'] = 'blue'): Scene => ({
  background,
  objects: [{ shape: 'circle', colour: 'red', size: 'big', position: 'center', dx: 0, dy: 0, rotation: 0, ...o }],
});

describe('scenes', () => {
  it('are the same for the same seed, index and split, and differ otherwise', () => {
    expect(sceneAt(7, 12)).toEqual(sceneAt(7, 12));
    expect(sceneAt(7, 12, { split: 'eval' })).toEqual(sceneAt(7, 12, { split: 'eval' }));
    const a = Array.from({ length: 50 }, (_, i) => JSON.stringify(sceneAt(7, i)));
    const b = Array.from({ length: 50 }, (_, i) => JSON.stringify(sceneAt(8, i)));
    expect(new Set(a).size).toBe(50);
    expect(a.filter((s, i) => s === b[i]).length).toBe(0);
  });

  it('keep held-out combinations out of training and only those in evaluation', () => {
    for (let i = 0; i < 400; i++) {
      const t = sceneAt(3, i), e = sceneAt(3, i, { split: 'eval' });
      for (const o of t.objects) expect(isHeldOut(o, t.background)).toBe(false);
      for (const o of e.objects) expect(isHeldOut(o, e.background)).toBe(true);
    }
    const held = combinations('eval').length, train = combinations('train').length;
    expect(held + train).toBe(SHAPES.length * COLOUR_NAMES.length * (COLOUR_NAMES.length - 1) * SIZES.length * POSITIONS.length);
    expect(held / (held + train)).toBeGreaterThan(0.09);
    expect(held / (held + train)).toBeLessThan(0.16);
  });

  it('leave every pair of attribute values in training', () => {
    const attrs = ['shape', 'colour', 'size', 'position', 'background'] as const;
    const seen = new Set<string>();
    for (const c of combinations('train')) {
      for (const a of attrs) for (const b of attrs) if (a < b) seen.add(`${a}=${c[a]}|${b}=${c[b]}`);
    }
    for (const c of combinations('eval')) {
      for (const a of attrs) for (const b of attrs) if (a < b) expect(seen.has(`${a}=${c[a]}|${b}=${c[b]}`), `${a}=${c[a]}, ${b}=${c[b]}`).toBe(true);
    }
  });

  it('put two objects on opposite sides in different colours, never the background colour', () => {
    let two = 0;
    for (let i = 0; i < 300; i++) {
      const s = sceneAt(5, i);
      for (const o of s.objects) expect(o.colour).not.toBe(s.background);
      if (s.objects.length === 2) {
        two++;
        const [a, b] = s.objects as [Scene['objects'][0], Scene['objects'][0]];
        expect(a.colour).not.toBe(b.colour);
        expect(new Set([a.position, b.position])).toSatisfy((p: Set<string>) => (p.has('left') && p.has('right')) || (p.has('top') && p.has('bottom')));
      }
    }
    expect(two).toBeGreaterThan(40);
    expect(sceneAt(5, 0, { twoObjects: 0 }).objects.length).toBe(1);
  });

  it('refuse bad options with typed errors', () => {
    expect(() => sceneAt(1.5, 0)).toThrow(OptionError);
    expect(() => sceneAt(1, -1)).toThrow(OptionError);
    expect(() => sceneAt(1, 0, { split: 'test' as 'eval' })).toThrow(/split/);
    expect(() => sceneAt(1, 0, { twoObjects: Number.NaN })).toThrow(/twoObjects/);
    expect(() => renderScene(one(), 4)).toThrow(/size/);
    expect(() => captionOf(one(), 9)).toThrow(/variant/);
    expect(() => shapesBatch(1, 0, 0)).toThrow(/count/);
  });
});

describe('drawings', () => {
  it('cover the area of each shape, in its colour, over the background colour', () => {
    const size = 64;
    // Unit-radius areas: circle pi, square (2 * 0.82)^2, the rest measured on a fine grid here.
    for (const shape of SHAPES) {
      const { image, mask } = renderScene(one({ shape }), size);
      const r = objectFrame(one({ shape }).objects[0]!, size).radius;
      const pixels = mask.reduce((n, v) => n + (v === 1 ? 1 : 0), 0);
      const expected = { circle: Math.PI, square: 1.64 * 1.64 }[shape as 'circle'] ?? null;
      if (expected !== null) expect(Math.abs(pixels - expected * r * r) / (expected * r * r), shape).toBeLessThan(0.05);
      expect(pixels, shape).toBeGreaterThan(0.3 * r * r);
      // Pixels well inside the mask have the object's colour; the corner has the background's.
      const c = size / 2;
      expect(Array.from(image.data.subarray((c * size + c) * 3, (c * size + c) * 3 + 3)), shape).toEqual([...COLOURS.red]);
      expect(Array.from(image.data.subarray(0, 3))).toEqual([...COLOURS.blue]);
      expect(mask[0]).toBe(0);
    }
  });

  it('have a segmentation that agrees with the pixels and with where each object was placed', () => {
    for (let i = 0; i < 20; i++) {
      const s = sceneAt(11, i, { twoObjects: 0.5 });
      const { image, mask } = renderScene(s, WORLD_SIZE);
      s.objects.forEach((o, k) => {
        const { cx, cy, radius } = objectFrame(o, WORLD_SIZE);
        let n = 0, sx = 0, sy = 0, exact = 0;
        for (let p = 0; p < mask.length; p++) {
          if (mask[p] !== k + 1) continue;
          n++;
          sx += p % WORLD_SIZE;
          sy += Math.floor(p / WORLD_SIZE);
          const rgb = Array.from(image.data.subarray(p * 3, p * 3 + 3));
          if (rgb.every((v, j) => v === COLOURS[o.colour][j])) exact++;
        }
        expect(n).toBeGreaterThan(0);
        // The mask's centroid lies near the placed centre (shapes are not centre-symmetric: within 0.35 radius).
        expect(Math.hypot(sx / n + 0.5 - cx, sy / n + 0.5 - cy)).toBeLessThan(0.35 * radius);
        // Most masked pixels are exactly the object's colour (the rest are anti-aliased edges).
        expect(exact / n).toBeGreaterThan(0.6);
      });
    }
  });
});

describe('captions and examples', () => {
  it('name every attribute of every object and the background, in every variant', () => {
    for (let i = 0; i < 60; i++) {
      const s = sceneAt(2, i, { twoObjects: 0.5 });
      for (let v = 0; v < captionVariants(s.objects.length); v++) {
        const words = captionOf(s, v).split(/[ ,]+/);
        for (const o of s.objects) for (const w of [o.shape, o.colour, o.size]) expect(words, captionOf(s, v)).toContain(w);
        expect(words).toContain(s.background);
      }
    }
    expect(captionOf(one({ position: 'left' }))).toBe('a big red circle on the left on a blue background');
  });

  it('are deterministic and carry labels that match the scene', () => {
    const a = shapesExample(9, 4), b = shapesExample(9, 4);
    expect(Array.from(a.pixels)).toEqual(Array.from(b.pixels));
    expect(a.caption).toBe(b.caption);
    a.scene.objects.forEach((o, k) => {
      expect(SHAPES[a.labels[k]!.shape]).toBe(o.shape);
      expect(COLOUR_NAMES[a.labels[k]!.colour]).toBe(o.colour);
      expect(SIZES[a.labels[k]!.size]).toBe(o.size);
      expect(POSITIONS[a.labels[k]!.position]).toBe(o.position);
    });
    expect(COLOUR_NAMES[a.background]).toBe(a.scene.background);
    expect(shapesExample(9, 4, { split: 'eval' }).caption).toBe(captionOf(sceneAt(9, 4, { split: 'eval' })));
  });

  it('batch into [-1, 1] images and integer masks without leaking tensors', () => {
    const before = tf.memory().numTensors;
    const b = shapesBatch(9, 10, 4, { size: 32 });
    expect(b.images.shape).toEqual([4, 32, 32, 3]);
    expect(b.masks.shape).toEqual([4, 32, 32]);
    const px = b.images.dataSync();
    expect(Math.min(...px)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...px)).toBeLessThanOrEqual(1);
    expect(px[0]).toBeCloseTo(shapesExample(9, 10, { size: 32 }).pixels[0]! / 127.5 - 1, 6);
    expect(b.captions).toEqual([10, 11, 12, 13].map((i) => shapesExample(9, i).caption));
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
