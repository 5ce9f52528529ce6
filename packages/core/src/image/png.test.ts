import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { OptionError, SemeditError, ShapeMismatchError } from '../errors.js';
import { ImageFormatError } from './errors.js';
import { assertImage, createImage, luma, toChannels } from './image.js';
import type { Channels, Image } from './image.js';
import { decodePng, encodePng, readPng, writePng } from './png.js';

const dir = mkdtempSync(join(tmpdir(), 'semedit-png-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A PNG chunk per the PNG specification: length, type, data, CRC-32 of type + data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const body = Buffer.concat([head.subarray(4), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0, 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

/** A minimal PNG written from the specification (filter 0 on every row), independent of pngjs. */
function specPng(width: number, height: number, depth: number, colorType: number, rows: Uint8Array[], extra: Buffer[] = []): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([depth, colorType, 0, 0, 0], 8);
  const raw = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.from([0]), r])));
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function randomImage(width: number, height: number, channels: Channels, seed: number): Image {
  const img = createImage(width, height, channels);
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    img.data[i] = s >>> 24;
  }
  return img;
}

describe('PNG encode/decode', () => {
  it.each([1, 3, 4] as const)('round-trips %i-channel images bit-exactly through a file', async (channels) => {
    const img = randomImage(7, 5, channels, 17 + channels);
    const path = join(dir, `rt-${channels}.png`);
    await writePng(path, img);
    const back = await readPng(path);
    expect(back.width).toBe(7);
    expect(back.height).toBe(5);
    expect(back.channels).toBe(channels);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('writes atomically: overwrites in place and leaves no temporary files', async () => {
    const sub = mkdtempSync(join(dir, 'atomic-'));
    const path = join(sub, 'a.png');
    await writePng(path, createImage(2, 2, 3, [1, 2, 3]));
    await writePng(path, createImage(3, 1, 1, 200));
    expect(readdirSync(sub)).toEqual(['a.png']);
    const back = await readPng(path);
    expect([back.width, back.height, back.channels, ...back.data]).toEqual([3, 1, 1, 200, 200, 200]);
  });

  it('does not modify the image it encodes', () => {
    const img = randomImage(4, 4, 4, 3);
    const copy = img.data.slice();
    encodePng(img);
    expect(img.data).toEqual(copy);
  });

  it('decodes spec-built 8-bit gray, RGB, RGBA and gray+alpha files', () => {
    const gray = decodePng(specPng(3, 1, 8, 0, [Uint8Array.of(0, 127, 255)]));
    expect([gray.channels, ...gray.data]).toEqual([1, 0, 127, 255]);
    const rgb = decodePng(specPng(2, 1, 8, 2, [Uint8Array.of(1, 2, 3, 4, 5, 6)]));
    expect([rgb.channels, ...rgb.data]).toEqual([3, 1, 2, 3, 4, 5, 6]);
    const rgba = decodePng(specPng(1, 2, 8, 6, [Uint8Array.of(9, 8, 7, 6), Uint8Array.of(5, 4, 3, 2)]));
    expect([rgba.channels, ...rgba.data]).toEqual([4, 9, 8, 7, 6, 5, 4, 3, 2]);
    const ga = decodePng(specPng(1, 1, 8, 4, [Uint8Array.of(50, 128)]));
    expect([ga.channels, ...ga.data]).toEqual([4, 50, 50, 50, 128]);
  });

  it('decodes a palette file to RGB', () => {
    const plte = chunk('PLTE', Uint8Array.of(10, 20, 30, 200, 100, 0));
    const img = decodePng(specPng(3, 1, 8, 3, [Uint8Array.of(1, 0, 1)], [plte]));
    expect([img.channels, ...img.data]).toEqual([3, 200, 100, 0, 10, 20, 30, 200, 100, 0]);
  });

  it('scales 16-bit samples to 8 bits as floor(v * 255 / 65535 + 0.5)', () => {
    const samples = [0, 1, 128, 129, 257, 32767, 32768, 65279, 65535];
    const row = Buffer.alloc(samples.length * 2);
    samples.forEach((v, i) => row.writeUInt16BE(v, 2 * i));
    const img = decodePng(specPng(3, 1, 16, 2, [row]));
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual(samples.map((v) => Math.floor((v * 255) / 65535 + 0.5)));
  });

  it('forces a channel count with `channels`', () => {
    const bytes = specPng(1, 1, 8, 2, [Uint8Array.of(255, 0, 0)]);
    expect(Array.from(decodePng(bytes, { channels: 4 }).data)).toEqual([255, 0, 0, 255]);
    expect(Array.from(decodePng(bytes, { channels: 1 }).data)).toEqual([Math.round(0.299 * 255)]);
  });
});

describe('bad PNG input', () => {
  const good = specPng(4, 4, 8, 2, Array.from({ length: 4 }, (_, y) => Uint8Array.from({ length: 12 }, (_, i) => i * 20 + y)));

  it('accepts the untruncated reference file', () => {
    expect(decodePng(good).width).toBe(4);
  });

  it.each([8, 20, 33, Math.floor(good.length / 2), good.length - 12, good.length - 1])(
    'throws ImageFormatError naming the file for a file truncated to %i bytes',
    async (n) => {
      const path = join(dir, `trunc-${n}.png`);
      writeFileSync(path, good.subarray(0, n));
      const err = await readPng(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageFormatError);
      expect(err).toBeInstanceOf(SemeditError);
      expect((err as ImageFormatError).file).toBe(path);
      expect((err as ImageFormatError).code).toBe('E_IMAGE_FORMAT');
      expect((err as Error).message).toContain(path);
      expect(readFileSync(path).length).toBe(n); // the input file is left alone
    },
  );

  it('reports a truncated buffer as truncated, with the given name', () => {
    expect(() => decodePng(good.subarray(0, 40), { name: 'upload' })).toThrow(/upload: truncated PNG/);
  });

  it('rejects a wrong signature and a corrupted chunk', () => {
    expect(() => decodePng(Buffer.from('GIF89a not a png at all'))).toThrow(ImageFormatError);
    expect(() => decodePng(new Uint8Array(0))).toThrow(/not a PNG/);
    const bad = Buffer.from(good);
    bad[bad.length - 20] = 0xff ^ bad[bad.length - 20]!; // inside the IDAT payload: the CRC no longer matches
    expect(() => decodePng(bad)).toThrow(/corrupt PNG/);
  });

  it('rejects inconsistent images before encoding', () => {
    const img = { width: 2, height: 2, channels: 3 as const, data: new Uint8Array(11) };
    expect(() => encodePng(img)).toThrow(ShapeMismatchError);
    expect(() => assertImage({ ...img, channels: 2 as unknown as Channels })).toThrow(OptionError);
    expect(() => createImage(0, 2, 3)).toThrow(OptionError);
  });
});

describe('channel conversion', () => {
  it('computes BT.601 luma as round((299 R + 587 G + 114 B) / 1000)', () => {
    for (const [r, g, b] of [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 200, 77]] as const) {
      expect(luma(r, g, b)).toBe(Math.round((299 * r + 587 * g + 114 * b) / 1000));
    }
  });

  it('replicates gray, adds opaque alpha, drops alpha and returns the same object when unchanged', () => {
    const gray = createImage(1, 1, 1, 9);
    expect(Array.from(toChannels(gray, 3).data)).toEqual([9, 9, 9]);
    expect(Array.from(toChannels(createImage(1, 1, 3, [1, 2, 3]), 4).data)).toEqual([1, 2, 3, 255]);
    expect(Array.from(toChannels(createImage(1, 1, 4, [1, 2, 3, 4]), 3).data)).toEqual([1, 2, 3]);
    expect(toChannels(gray, 1)).toBe(gray);
  });
});
