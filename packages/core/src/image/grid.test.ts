import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '../errors.js';
import { drawText, glyphRows, GLYPH_HEIGHT, GLYPH_WIDTH, measureText } from './font.js';
import { layoutGrid, makeGrid, writeGrid } from './grid.js';
import { createImage } from './image.js';
import type { Image } from './image.js';
import { readPng } from './png.js';

const dir = mkdtempSync(join(tmpdir(), 'semedit-grid-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const px = (img: Image, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * img.channels, (y * img.width + x + 1) * img.channels));

describe('makeGrid layout', () => {
  // Tiles (w x h): A 4x3, B 2x5, C 3x2; cols 2, padding 3. Worked out by hand from the layout rules:
  // column widths [4, 2], row heights [5, 2]; sheet 3+4+3+2+3 = 15 wide, 3+5+3+2+3 = 16 tall;
  // A at (3, 3), B at (3+4+3, 3) = (10, 3), C at (3, 3+5+3) = (3, 11).
  const tiles = [createImage(4, 3, 3, [255, 0, 0]), createImage(2, 5, 3, [0, 255, 0]), createImage(3, 2, 3, [0, 0, 255])];
  const rects = [
    { x: 3, y: 3, w: 4, h: 3, c: [255, 0, 0] },
    { x: 10, y: 3, w: 2, h: 5, c: [0, 255, 0] },
    { x: 3, y: 11, w: 3, h: 2, c: [0, 0, 255] },
  ];
  const bg = [10, 20, 30];

  it('places tiles and fills padding with the background, pixel by pixel', () => {
    const sheet = makeGrid(tiles, { cols: 2, padding: 3, background: bg });
    expect([sheet.width, sheet.height, sheet.channels]).toEqual([15, 16, 3]);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 15; x++) {
        const hit = rects.find((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h);
        expect(px(sheet, x, y), `pixel (${x}, ${y})`).toEqual(hit ? hit.c : bg);
      }
    }
    const layout = layoutGrid(tiles, { cols: 2, padding: 3 });
    expect(layout.tiles).toEqual(rects.map((r) => ({ x: r.x, y: r.y })));
    expect([layout.cols, layout.rows]).toEqual([2, 2]);
  });

  it('defaults to ceil(sqrt(n)) columns and 2 px padding', () => {
    const five = Array.from({ length: 5 }, () => createImage(2, 2, 1, 255));
    const sheet = makeGrid(five);
    // 3 columns, 2 rows: 2 + 3 * (2 + 2) = 14 wide, 2 + 2 * (2 + 2) = 10 tall; black background.
    expect([sheet.width, sheet.height, sheet.channels]).toEqual([14, 10, 1]);
    // Tiles at x = 2, 6, 10 (row 0) and 2, 6 (row 1, y = 6); the third cell of row 1 stays empty.
    expect([px(sheet, 10, 2), px(sheet, 11, 3), px(sheet, 6, 6), px(sheet, 7, 7)]).toEqual([[255], [255], [255], [255]]);
    expect([px(sheet, 10, 6), px(sheet, 8, 6), px(sheet, 4, 4), px(sheet, 13, 9)]).toEqual([[0], [0], [0], [0]]);
  });

  it('promotes tiles to the largest channel count and honours an RGBA background', () => {
    const sheet = makeGrid([createImage(1, 1, 1, 9), createImage(1, 1, 3, [1, 2, 3])], { padding: 1, background: [5, 6, 7, 0] });
    expect(sheet.channels).toBe(4);
    expect([px(sheet, 0, 0), px(sheet, 1, 1), px(sheet, 3, 1)]).toEqual([[5, 6, 7, 0], [9, 9, 9, 255], [1, 2, 3, 255]]);
  });

  it('takes a batch tensor with its range, without leaking tensors', () => {
    const t = tf.tensor4d([-1, 1], [2, 1, 1, 1]);
    expect(() => makeGrid(t)).toThrow(OptionError);
    const before = tf.memory().numTensors;
    const sheet = makeGrid(t, { range: '-1-1', padding: 0 });
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
    expect(Array.from(sheet.data)).toEqual([0, 255]);
  });

  it('rejects bad options', () => {
    expect(() => makeGrid([])).toThrow(OptionError);
    expect(() => makeGrid(tiles, { cols: 0 })).toThrow(OptionError);
    expect(() => makeGrid(tiles, { padding: -1 })).toThrow(OptionError);
    expect(() => makeGrid(tiles, { labels: ['a'] })).toThrow(/labels.*3 images/);
    expect(() => makeGrid(tiles, { background: [1, 2] })).toThrow(OptionError);
    expect(() => makeGrid(tiles, { labels: ['a', 'b', 'caf\u00e9'] })).toThrow(/U\+00E9/);
  });
});

describe('labels', () => {
  // Two 8x8 white tiles, cols 2, padding 2, black background. Label band = 7 + 2 = 9 rows; column 1 is as wide
  // as 'ij' (2 * 6 - 1 = 11 px). Sheet: 2+8+2+11+2 = 25 wide, 2+8+9+2 = 21 tall. Text rows: y = 2+8+1 = 11..17.
  const tiles = [createImage(8, 8, 1, 200), createImage(8, 8, 1, 200)];
  const sheet = makeGrid(tiles, { cols: 2, padding: 2, labels: ['A', 'ij'] });
  const textBoxes = [
    { x: 2, y: 11, w: 5, h: 7 },
    { x: 12, y: 11, w: 11, h: 7 },
  ];
  const tileBoxes = [
    { x: 2, y: 2, w: 8, h: 8 },
    { x: 12, y: 2, w: 8, h: 8 },
  ];
  const inside = (b: { x: number; y: number; w: number; h: number }, x: number, y: number) => x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h;

  it('sizes the sheet for the label band and the widest label', () => {
    expect([sheet.width, sheet.height]).toEqual([25, 21]);
  });

  it('draws label pixels under each tile and nowhere else', () => {
    const counts = [0, 0];
    for (let y = 0; y < sheet.height; y++) {
      for (let x = 0; x < sheet.width; x++) {
        const v = px(sheet, x, y)[0];
        if (tileBoxes.some((b) => inside(b, x, y))) {
          expect(v, `tile pixel (${x}, ${y})`).toBe(200);
          continue;
        }
        const box = textBoxes.findIndex((b) => inside(b, x, y));
        if (v !== 0) {
          expect(box, `stray label pixel at (${x}, ${y})`).toBeGreaterThanOrEqual(0);
          expect(v).toBe(255); // white text on the dark background
          counts[box]!++;
        }
      }
    }
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBeGreaterThan(0);
  });

  it('renders the glyph bitmap of each character at scale 1 and 2', () => {
    const rows = glyphRows('A');
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        const on = (rows[r]! >> (GLYPH_WIDTH - 1 - c)) & 1;
        expect(px(sheet, 2 + c, 11 + r)[0]).toBe(on ? 255 : 0);
      }
    }
    const big = createImage(12, 16, 3, 255);
    drawText(big, 'A', 1, 1, { color: [0, 0, 0], scale: 2 });
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        const on = (rows[r]! >> (GLYPH_WIDTH - 1 - c)) & 1;
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
          expect(px(big, 1 + 2 * c + dx, 1 + 2 * r + dy)).toEqual(on ? [0, 0, 0] : [255, 255, 255]);
        }
      }
    }
  });

  it('uses a dark label colour on a light background and writes the sheet to a file', async () => {
    const path = join(dir, 'labels.png');
    await writeGrid(path, [createImage(6, 6, 3, [0, 0, 255])], { background: 255, labels: ['x'], padding: 1 });
    const img = await readPng(path);
    const values = new Set<number>();
    for (let y = 8; y < img.height; y++) for (let x = 0; x < img.width; x++) values.add(px(img, x, y)[0]!);
    expect([...values].sort((a, b) => a - b)).toEqual([0, 255]);
  });
});

describe('built-in 5x7 font', () => {
  const chars = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

  it('has a 7-row, 5-pixel glyph for every printable ASCII character', () => {
    for (const ch of chars) {
      const rows = glyphRows(ch);
      expect(rows.length, ch).toBe(GLYPH_HEIGHT);
      expect(rows.every((m) => Number.isInteger(m) && m >= 0 && m < 1 << GLYPH_WIDTH), ch).toBe(true);
    }
  });

  it('leaves space blank and draws every other glyph, all different', () => {
    expect(glyphRows(' ').every((m) => m === 0)).toBe(true);
    const seen = new Map<string, string>();
    for (const ch of chars.slice(1)) {
      const key = glyphRows(ch).join(',');
      expect(key, ch).not.toBe('0,0,0,0,0,0,0');
      expect(seen.get(key), `${ch} duplicates ${seen.get(key)}`).toBeUndefined();
      seen.set(key, ch);
    }
  });

  it('measures text as 6 px per character less the trailing gap, and rejects other characters', () => {
    expect([measureText(''), measureText('a'), measureText('abc'), measureText('abc', 3)]).toEqual([0, 5, 17, 51]);
    expect(() => glyphRows('\n')).toThrow(OptionError);
    expect(() => glyphRows('\u00ff')).toThrow(/ASCII 32\.\.126/);
  });
});
