/**
 * The few numpy routines that diffusers builds its timestep and sigma tables with, reproduced to the bit in float64
 * so that our tables equal the reference's: `np.linspace`, float `np.arange`, `np.round` (half to even) and
 * `np.interp`. `Math.fround` plays the role of a cast to float32.
 * @module
 */

/**
 * `np.round(x)`: rounds half to even (banker's rounding), unlike `Math.round`.
 *
 * @param x value
 * @example
 * ```ts
 * [roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(-0.5)]; // [0, 2, 2, -0]
 * ```
 */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * `np.linspace(start, stop, num)` (endpoint included): `y[i] = i * step + start` in float64, `y[num-1] = stop`.
 *
 * @param start first value
 * @param stop  last value
 * @param num   number of values (>= 0)
 * @example
 * ```ts
 * Array.from(linspace(0, 999, 4)); // [0, 333, 666, 999]
 * ```
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = div > 0 ? i * step + start : start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `np.arange(start, stop, step)` with a float step: length `ceil((stop - start) / step)`, and values filled as numpy
 * does, `start + i * ((start + step) - start)`.
 *
 * @param start first value
 * @param stop  end (excluded)
 * @param step  increment (non-zero, may be negative)
 * @example
 * ```ts
 * Array.from(arange(1000, 0, -250)); // [1000, 750, 500, 250]
 * ```
 */
export function arange(start: number, stop: number, step: number): Float64Array {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(len);
  if (len === 0) return out;
  out[0] = start;
  if (len === 1) return out;
  out[1] = start + step;
  const delta = out[1] - start;
  for (let i = 2; i < len; i++) out[i] = start + i * delta;
  return out;
}

/**
 * `np.interp(x, xp, fp)` for one point: piecewise-linear interpolation over increasing `xp`, clamped at the ends.
 *
 * @param x  where to evaluate
 * @param xp increasing sample positions
 * @param fp values at `xp`
 * @example
 * ```ts
 * interp(1.25, [0, 1, 2], [10, 20, 40]); // 25
 * ```
 */
export function interp(x: number, xp: ArrayLike<number>, fp: ArrayLike<number>): number {
  const n = xp.length;
  if (x <= xp[0]!) return fp[0]!;
  if (x >= xp[n - 1]!) return fp[n - 1]!;
  let lo = 0;
  let hi = n - 1; // invariant: xp[lo] <= x < xp[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xp[mid]! <= x) lo = mid;
    else hi = mid;
  }
  if (xp[lo] === x) return fp[lo]!;
  const slope = (fp[lo + 1]! - fp[lo]!) / (xp[lo + 1]! - xp[lo]!);
  return slope * (x - xp[lo]!) + fp[lo]!;
}
