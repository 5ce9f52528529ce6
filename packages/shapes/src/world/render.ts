/**
 * Drawing a scene: RGB pixels with anti-aliased edges (4x4 samples a pixel) and the per-pixel segmentation (which
 * object covers most of each pixel), both from the same geometry.
 *
 * Geometry in units of the image side: object centres at 0.27 / 0.73 of the width or height for left / right / top /
 * bottom and 0.5 for center, jittered by up to ±0.04; radius 0.11 (small) or 0.19 (big). Two objects sit on
 * opposite sides and never overlap. At 64x64 a small object is about 14 pixels across, a big one 24.
 * @module
 */
import { OptionError } from '@semedit/core';
import { createImage, type Image } from '@semedit/core/image';
import { COLOURS, type Scene, type SceneObject, type ShapeName } from './scene.js';

const CENTRES = { left: [0.27, 0.5], right: [0.73, 0.5], top: [0.5, 0.27], bottom: [0.5, 0.73], center: [0.5, 0.5] } as const;
const RADIUS = { small: 0.11, big: 0.19 } as const;
const JITTER = 0.04;
const SAMPLES = 4;

/** Vertices of a regular polygon (or a star with `inner` > 0) of unit radius, the first pointing up (-y). */
function polygon(points: number, inner = 0): [number, number][] {
  const n = inner > 0 ? points * 2 : points;
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const a = -Math.PI / 2 + (i * 2 * Math.PI) / n;
    const r = inner > 0 && i % 2 === 1 ? inner : 1;
    out.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return out;
}

const OUTLINES: Partial<Record<ShapeName, [number, number][]>> = {
  triangle: polygon(3).map(([x, y]) => [x * 1.1, y * 1.1 + 0.15]),
  star: polygon(5, 0.45).map(([x, y]) => [x * 1.1, y * 1.1 + 0.05]),
  hexagon: polygon(6),
};

/** Even-odd crossing test (the star is concave). */
function inPolygon(v: [number, number][], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = v.length - 1; i < v.length; j = i++) {
    const [xi, yi] = v[i]!, [xj, yj] = v[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether the unit shape covers the point (x, y), in the object's own frame (radius 1, unrotated). */
function covers(shape: ShapeName, x: number, y: number): boolean {
  switch (shape) {
    case 'circle':
      return x * x + y * y <= 1;
    case 'square':
      return Math.max(Math.abs(x), Math.abs(y)) <= 0.82;
    default:
      return inPolygon(OUTLINES[shape]!, x, y);
  }
}

/**
 * Where an object lies, in pixels of a `size`-pixel image: its centre and radius.
 *
 * @example
 * ```ts
 * objectFrame(scene.objects[0]!, 64); // { cx: 17.3, cy: 32, radius: 12.2 }
 * ```
 */
export function objectFrame(o: SceneObject, size: number): { cx: number; cy: number; radius: number } {
  const [x, y] = CENTRES[o.position];
  return { cx: (x + o.dx * JITTER) * size, cy: (y + o.dy * JITTER) * size, radius: RADIUS[o.size] * size };
}

/**
 * A drawn scene: the RGB image and its segmentation.
 *
 * @example
 * ```ts
 * const { image, mask } = renderScene(sceneAt(7, 0), 64);
 * image.width; // 64
 * mask[0]; // 0 (background)
 * ```
 */
export interface Rendered {
  /** RGB, `size` x `size`. */
  image: Image;
  /** Per pixel, row-major: 0 for the background, i + 1 for `scene.objects[i]`. */
  mask: Uint8Array;
}

/**
 * Draws a scene at `size` x `size` pixels.
 *
 * @param scene the scene
 * @param size  the image side in pixels (an integer >= 8)
 * @returns the image and the segmentation
 * @throws OptionError for a size that is not an integer >= 8
 * @example
 * ```ts
 * renderScene(sceneAt(7, 0), 64).image.data.length; // 12288
 * ```
 */
export function renderScene(scene: Scene, size: number): Rendered {
  if (!Number.isInteger(size) || size < 8) throw new OptionError('size', `must be an integer >= 8, got ${size}`);
  const image = createImage(size, size, 3);
  const mask = new Uint8Array(size * size);
  const frames = scene.objects.map((o) => ({ o, ...objectFrame(o, size), cos: Math.cos(-o.rotation), sin: Math.sin(-o.rotation) }));
  const paints = [COLOURS[scene.background], ...scene.objects.map((o) => COLOURS[o.colour])];
  const counts = new Array<number>(paints.length);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      counts.fill(0);
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const x = px + (sx + 0.5) / SAMPLES, y = py + (sy + 0.5) / SAMPLES;
          let top = 0;
          frames.forEach((f, i) => {
            const ux = (x - f.cx) / f.radius, uy = (y - f.cy) / f.radius;
            if (covers(f.o.shape, ux * f.cos - uy * f.sin, ux * f.sin + uy * f.cos)) top = i + 1;
          });
          counts[top]!++;
        }
      }
      const at = py * size + px;
      let best = 0;
      for (let k = 0; k < 3; k++) {
        let v = 0;
        counts.forEach((n, i) => (v += n * paints[i]![k]!));
        image.data[at * 3 + k] = Math.round(v / (SAMPLES * SAMPLES));
      }
      counts.forEach((n, i) => {
        if (n > counts[best]!) best = i;
      });
      mask[at] = best;
    }
  }
  return { image, mask };
}
