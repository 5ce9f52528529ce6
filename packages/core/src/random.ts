/**
 * Seeded random numbers computed in JavaScript, so a seed gives the same numbers on every tfjs backend and
 * platform (unlike `tf.randomNormal`, whose stream depends on the backend).
 *
 * The core is the counter-based Philox4x32-10 generator (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011): the seed is the 64-bit key, and block `b` is `philox(counter = [b mod 2^32, b / 2^32, 0, 0],
 * key)`, four uint32 per block, drawn in order. Uniform floats take the top 24 bits (`float32`, exact) or 53 bits
 * (`nextDouble`); normals use the Box-Muller transform on two 53-bit uniforms.
 *
 * Uniform and integer streams are bit-identical everywhere. Normals go through `Math.log`, `Math.cos` and
 * `Math.sin`, which V8 (Node, Chrome) implements with the same fdlibm port on every platform; other engines may
 * differ in the last float32 bit in rare cases.
 *
 * This is NOT bit-identical to `torch.randn` or `torch.Generator` (PyTorch uses MT19937 on the CPU and its own
 * Philox offsets on CUDA). Parity fixtures therefore pass their initial latents explicitly instead of a seed.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from './errors.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_32 = 4294967296;

/** High 32 bits of the 64-bit product of two uint32, exactly (doubles hold the 48-bit partial products). */
function mulhi(a: number, b: number): number {
  const p0 = a * (b & 0xffff);
  const p1 = a * (b >>> 16);
  return Math.floor((p1 + Math.floor(p0 / 65536)) / 65536) >>> 0;
}

/**
 * One Philox4x32-10 block: 10 rounds of the Philox S-box over a 128-bit counter under a 64-bit key.
 *
 * @param counter four uint32 words
 * @param key     two uint32 words
 * @returns four uint32 words
 * @example
 * ```ts
 * console.log(Array.from(philox4x32([0, 0, 0, 0], [0, 0]), (x) => x.toString(16)));
 * // ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8'] (Random123 known-answer test)
 * ```
 */
export function philox4x32(counter: readonly number[], key: readonly number[]): Uint32Array {
  let [c0, c1, c2, c3] = [counter[0]! >>> 0, counter[1]! >>> 0, counter[2]! >>> 0, counter[3]! >>> 0];
  let [k0, k1] = [key[0]! >>> 0, key[1]! >>> 0];
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

/** A generator's complete state; plain JSON. */
export interface RandomGeneratorState {
  algorithm: 'philox4x32-10';
  /** The 64-bit key as two uint32 words (low, high). */
  key: [number, number];
  /** Number of uint32 drawn so far. */
  position: number;
  /** Second normal of the last Box-Muller pair, not yet returned. */
  spareNormal: number | null;
}

/**
 * A seeded Philox4x32-10 stream with uniform and normal draws, state save/restore and forking.
 *
 * @example
 * ```ts
 * const gen = createGenerator(42);
 * const z = gen.normal(4); // Float32Array(4), the same on every backend
 * ```
 */
export class RandomGenerator {
  private key: [number, number];
  private position = 0;
  private spare: number | null = null;
  private block: Uint32Array = new Uint32Array(4);

  /**
   * @param key 64-bit key as two uint32 words (low, high); prefer {@link createGenerator}
   */
  constructor(key: readonly [number, number]) {
    this.key = [key[0] >>> 0, key[1] >>> 0];
  }

  /**
   * The next uint32 of the stream.
   *
   * @example
   * ```ts
   * console.log(createGenerator(0).nextUint32().toString(16)); // '6627e8d5'
   * ```
   */
  nextUint32(): number {
    const within = this.position % 4;
    if (within === 0) this.refill(this.position / 4);
    this.position++;
    return this.block[within]!;
  }

  private refill(blockIndex: number): void {
    if (blockIndex >= Number.MAX_SAFE_INTEGER / 4) throw new OptionError('generator', 'stream exhausted (2^53 draws)');
    this.block = philox4x32([blockIndex % TWO_32, Math.floor(blockIndex / TWO_32), 0, 0], this.key);
  }

  /**
   * A uniform double in [0, 1) with 53 random bits (uses two uint32).
   *
   * @example
   * ```ts
   * const u = createGenerator(1).nextDouble(); // 0 <= u < 1
   * ```
   */
  nextDouble(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * `n` uniform float32 values in [0, 1): each is the top 24 bits of one uint32 times 2^-24 (exact in float32).
   *
   * @param n how many
   * @example
   * ```ts
   * console.log(createGenerator(0).uniform(1)[0]); // 0x6627e8 / 2^24 = 0.39904...
   * ```
   */
  uniform(n: number): Float32Array {
    const out = new Float32Array(checkCount(n));
    for (let i = 0; i < out.length; i++) out[i] = (this.nextUint32() >>> 8) / 16777216;
    return out;
  }

  /**
   * `n` standard normal values (mean 0, variance 1) as float32, by Box-Muller: for 53-bit uniforms u1, u2,
   * `r = sqrt(-2 ln(1 - u1))`, `z0 = r cos(2 pi u2)`, `z1 = r sin(2 pi u2)`; z1 is kept for the next draw.
   *
   * @param n how many
   * @example
   * ```ts
   * const z = createGenerator(7).normal(3); // Float32Array(3)
   * ```
   */
  normal(n: number): Float32Array {
    const out = new Float32Array(checkCount(n));
    for (let i = 0; i < out.length; i++) out[i] = this.nextNormal();
    return out;
  }

  /**
   * One standard normal value (double precision, before any float32 rounding).
   *
   * @example
   * ```ts
   * const z = createGenerator(7).nextNormal();
   * ```
   */
  nextNormal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - this.nextDouble()));
    const theta = 2 * Math.PI * this.nextDouble();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * A snapshot of the state; {@link setState} with it continues the stream from exactly here.
   *
   * @example
   * ```ts
   * const s = gen.getState(); const a = gen.normal(5); gen.setState(s); const b = gen.normal(5); // a equals b
   * ```
   */
  getState(): RandomGeneratorState {
    return { algorithm: 'philox4x32-10', key: [...this.key], position: this.position, spareNormal: this.spare };
  }

  /**
   * Restores a state from {@link getState} (possibly of another generator, or parsed from JSON).
   *
   * @param state the state to continue from
   * @throws OptionError if the state is malformed
   * @example
   * ```ts
   * gen.setState(JSON.parse(saved));
   * ```
   */
  setState(state: RandomGeneratorState): void {
    const ok =
      state?.algorithm === 'philox4x32-10' &&
      Array.isArray(state.key) && state.key.length === 2 && state.key.every((k) => Number.isInteger(k) && k >= 0 && k < TWO_32) &&
      Number.isSafeInteger(state.position) && state.position >= 0 &&
      (state.spareNormal === null || Number.isFinite(state.spareNormal));
    if (!ok) throw new OptionError('state', `not a philox4x32-10 generator state: ${JSON.stringify(state)}`);
    this.key = [state.key[0], state.key[1]];
    this.position = state.position;
    this.spare = state.spareNormal;
    if (this.position % 4 !== 0) this.refill(Math.floor(this.position / 4));
  }

  /**
   * A new, independent generator whose key is the next two uint32 of this one (so this one advances by 2).
   *
   * @example
   * ```ts
   * const noiseGen = gen.fork(); // e.g. one stream per image of a batch
   * ```
   */
  fork(): RandomGenerator {
    const k0 = this.nextUint32();
    const k1 = this.nextUint32();
    return new RandomGenerator([k0, k1]);
  }
}

function checkCount(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new OptionError('n', `must be a non-negative integer, got ${n}`);
  return n;
}

/**
 * Creates a generator from a seed: a non-negative safe integer, or a bigint below 2^64 (the 64-bit key).
 *
 * @param seed the seed
 * @throws OptionError for a negative, fractional or too large seed
 * @example
 * ```ts
 * const gen = createGenerator(1234n);
 * ```
 */
export function createGenerator(seed: number | bigint): RandomGenerator {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed >= 1n << 64n) throw new OptionError('seed', `must be in [0, 2^64), got ${seed}`);
    return new RandomGenerator([Number(seed & 0xffffffffn), Number(seed >> 32n)]);
  }
  if (!Number.isSafeInteger(seed) || seed < 0) throw new OptionError('seed', `must be a non-negative safe integer, got ${seed}`);
  return new RandomGenerator([seed % TWO_32, Math.floor(seed / TWO_32)]);
}

function shapeSize(shape: readonly number[]): number {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new OptionError('shape', `must be non-negative integers, got [${shape.join(', ')}]`);
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * A float32 tensor of standard normal values drawn from `gen` in row-major order (backend-independent).
 *
 * @param shape tensor shape, e.g. `[1, 64, 64, 4]` for SD latents in NHWC
 * @param gen   the generator (advanced)
 * @param opts  `mean` (default 0) and `std` (default 1)
 * @example
 * ```ts
 * const latents = randn([1, 8, 8, 4], createGenerator(0)); // same values on cpu, wasm and webgpu
 * ```
 */
export function randn(shape: readonly number[], gen: RandomGenerator, opts: { mean?: number; std?: number } = {}): tf.Tensor {
  const { mean = 0, std = 1 } = opts;
  const data = gen.normal(shapeSize(shape));
  if (mean !== 0 || std !== 1) for (let i = 0; i < data.length; i++) data[i] = mean + std * data[i]!;
  return tf.tensor(data, [...shape], 'float32');
}

/**
 * A float32 tensor of uniform values in [min, max) drawn from `gen` (`min + (max - min) * u`; for ranges other
 * than [0, 1) float32 rounding can reach `max`).
 *
 * @param shape tensor shape
 * @param gen   the generator (advanced)
 * @param opts  `min` (default 0) and `max` (default 1)
 * @example
 * ```ts
 * const u = randu([2, 3], createGenerator(5), { min: -1, max: 1 });
 * ```
 */
export function randu(shape: readonly number[], gen: RandomGenerator, opts: { min?: number; max?: number } = {}): tf.Tensor {
  const { min = 0, max = 1 } = opts;
  if (!(max > min)) throw new OptionError('max', `must be greater than min (${min}), got ${max}`);
  const data = gen.uniform(shapeSize(shape));
  if (min !== 0 || max !== 1) for (let i = 0; i < data.length; i++) data[i] = min + (max - min) * data[i]!;
  return tf.tensor(data, [...shape], 'float32');
}
