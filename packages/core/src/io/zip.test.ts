import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError } from '../errors.js';
import { buildZip } from '../testing/torch-writers.js';
import { crc32, openZip, parseZip } from './zip.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dir = mkdtempSync(join(tmpdir(), 'semedit-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic pseudo-random bytes (xorshift32). */
function noise(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const ENTRIES = [
  { name: 'arch/data.pkl', data: enc('pickle bytes') },
  { name: 'arch/data/0', data: noise(1000), method: 8 as const },
  { name: 'arch/empty', data: new Uint8Array(0) },
  { name: 'arch/text', data: enc('abc'.repeat(5000)), method: 8 as const },
];

async function zipError(p: Promise<unknown>): Promise<CheckpointFormatError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointFormatError);
    return e as CheckpointFormatError;
  }
  return expect.fail('expected a CheckpointFormatError');
}

describe('crc32', () => {
  it('matches the standard check value and zlib', () => {
    expect(crc32(enc('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const zcrc = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
    const data = noise(4099, 7);
    if (zcrc) expect(crc32(data)).toBe(zcrc(data));
    expect(crc32(data.subarray(1000), crc32(data.subarray(0, 1000)))).toBe(crc32(data));
  });
});

describe('zip reader', () => {
  it.each([false, true])('reads stored and deflated entries back (zip64 layout: %s)', async (zip64) => {
    const bytes = buildZip(ENTRIES, { zip64, comment: zip64 ? '' : 'an archive comment' });
    const zip = await parseZip(bytes, 'mem.zip');
    expect(zip.entries.map((e) => e.name)).toEqual(ENTRIES.map((e) => e.name));
    expect(zip.entries.map((e) => e.method)).toEqual([0, 8, 0, 8]);
    for (const e of ENTRIES) expect(await zip.read(e.name)).toEqual(e.data);
    expect(zip.entry('arch/text')!.compressedSize).toBeLessThan(15000);
    await zip.close();
  });

  it('reads from a file lazily, and entries beyond 4 GiB of a sparse file', async () => {
    const path = join(dir, 'small.zip');
    writeFileSync(path, buildZip(ENTRIES));
    const zip = await openZip(path);
    expect(await zip.read('arch/data/0')).toEqual(ENTRIES[1]!.data);
    await zip.close();

    const base = 2 ** 32 + 12345;
    const big = join(dir, 'big.zip');
    const body = buildZip([{ name: 'far/data.pkl', data: enc('far away') }, { name: 'far/data/0', data: noise(300), method: 8 }], { zip64: true, base });
    const fh = await open(big, 'w');
    try {
      await fh.write(body, 0, body.length, base);
    } finally {
      await fh.close();
    }
    const far = await openZip(big);
    expect(far.entries[0]!.localHeaderOffset).toBe(base);
    expect(new TextDecoder().decode(await far.read('far/data.pkl'))).toBe('far away');
    expect(await far.read('far/data/0')).toEqual(noise(300));
    await far.close();
    rmSync(big);
  });

  it('rejects non-zips and truncated archives with the file and offset', async () => {
    const notZip = await zipError(parseZip(enc('definitely not a zip archive at all'), 'x.bin'));
    expect(notZip.message).toMatch(/end-of-central-directory/);
    expect(notZip.file).toBe('x.bin');
    expect((await zipError(parseZip(enc('PK'), 'tiny'))).message).toMatch(/too small/);
    const bytes = buildZip(ENTRIES);
    expect((await zipError(parseZip(bytes.subarray(0, bytes.length - 5), 't.zip'))).message).toMatch(/end-of-central-directory/);
    const cut = await zipError(parseZip(bytes.subarray(100), 'cut.zip'));
    expect(cut.message).toMatch(/central directory/);
    expect(cut.offset).toBeTypeOf('number');
  });

  it('detects corrupt data by CRC and names the entry', async () => {
    const bytes = buildZip(ENTRIES);
    const at = 30 + 'arch/data.pkl'.length + 3;
    bytes[at]! ^= 0x01;
    const zip = await parseZip(bytes, 'crc.zip');
    const e = await zipError(zip.read('arch/data.pkl'));
    expect(e.message).toMatch(/"arch\/data\.pkl".*CRC-32/);
    expect(e.offset).toBe(30 + 'arch/data.pkl'.length);
    expect(await zip.read('arch/data/0')).toEqual(ENTRIES[1]!.data);
    const lax = await parseZip(bytes, 'crc.zip', { verifyCrc: false });
    expect((await lax.read('arch/data.pkl'))[3]).toBe(bytes[at]);
  });

  it('never inflates past the declared size (zip bomb guard)', async () => {
    const bomb = buildZip([{ name: 'b/bomb', data: new Uint8Array(1 << 20), method: 8 }]);
    const cd = bomb.length - 22 - 46 - 'b/bomb'.length;
    new DataView(bomb.buffer).setUint32(cd + 24, 1000, true); // declare 1000 uncompressed bytes
    const zip = await parseZip(bomb, 'bomb.zip');
    expect((await zipError(zip.read('b/bomb'))).message).toMatch(/inflates to more than its declared 1000 bytes/);
    new DataView(bomb.buffer).setUint32(cd + 24, 0xfffffff0, true);
    const liar = await parseZip(bomb, 'bomb.zip');
    expect((await zipError(liar.read('b/bomb'))).message).toMatch(/declares 4294967280 bytes from \d+ compressed bytes, more than deflate/);
    new DataView(bomb.buffer).setUint32(cd + 24, (1 << 20) + 5, true); // plausible but 5 bytes too many
    const short = await parseZip(bomb, 'bomb.zip');
    expect((await zipError(short.read('b/bomb'))).message).toMatch(/inflated to 1048576 bytes, 1048581 declared/);
  });

  it('rejects missing, encrypted, unknown-method and overlapping entries', async () => {
    const make = (patch: (v: DataView, cd: number) => void) => {
      const b = buildZip([{ name: 'a/x', data: enc('hello') }]);
      patch(new DataView(b.buffer), b.length - 22 - 46 - 3);
      return parseZip(b, 'p.zip');
    };
    const ok = await make(() => {});
    expect((await zipError(ok.read('a/none'))).message).toMatch(/"a\/none": no such entry/);
    expect((await zipError((await make((v, cd) => v.setUint16(cd + 8, 1, true))).read('a/x'))).message).toMatch(/encrypted/);
    expect((await zipError((await make((v, cd) => v.setUint16(cd + 10, 12, true))).read('a/x'))).message).toMatch(/method 12/);
    expect((await zipError((await make((v, cd) => v.setUint32(cd + 20, 999, true))).read('a/x'))).message).toMatch(/runs into the central directory/);
    expect((await zipError(make((v, cd) => v.setUint32(cd + 42, 500, true)))).message).toMatch(/local header offset 500/);
    expect((await zipError(make((v, cd) => v.setUint32(cd, 0x12345678, true)))).message).toMatch(/central directory signature/);
    const dup = buildZip([{ name: 'a/x', data: enc('1') }, { name: 'a/x', data: enc('2') }]);
    expect((await zipError(parseZip(dup, 'dup.zip'))).message).toMatch(/duplicate entry "a\/x"/);
  });
});
