/**
 * Scenes of the shapes world: one or two objects (shape, colour, size, position) on a plain background, drawn
 * deterministically from a seed and an index, so any image of a data set can be made again on its own (a training
 * run that resumes at batch k draws scenes k·B to (k+1)·B - 1, nothing else).
 *
 * The split: a scene's *combination* is its tuple (shape, colour, size, position, background) per object. A fixed
 * eighth of the single-object combinations is held out: the training split never draws them, the evaluation split
 * only draws them. Every pair of attribute values still occurs in training, so a held-out prompt asks for a new
 * combination of known words, not for a word the models never saw.
 * @module
 */
import { createGenerator, OptionError } from '@semedit/core';

/**
 * The shapes, in vocabulary order.
 *
 * @example
 * ```ts
 * SHAPES.length; // 5
 * ```
 */
export const SHAPES = ['circle', 'square', 'triangle', 'star', 'hexagon'] as const;
/** A shape name. @example `const s: ShapeName = 'star';` */
export type ShapeName = (typeof SHAPES)[number];

/**
 * The colours with their sRGB values; objects and backgrounds take them from the same list (never the same one in
 * one scene), so "a red star on a blue background" and "a blue star on a red background" are both scenes.
 *
 * @example
 * ```ts
 * COLOURS.red; // [220, 40, 40]
 * ```
 */
export const COLOURS = {
  red: [220, 40, 40],
  orange: [245, 140, 20],
  yellow: [240, 220, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  purple: [140, 50, 190],
  white: [245, 245, 245],
  black: [25, 25, 25],
} as const satisfies Record<string, readonly [number, number, number]>;
/** A colour name. @example `const c: ColourName = 'red';` */
export type ColourName = keyof typeof COLOURS;
/** The colour names in vocabulary order. @example `COLOUR_NAMES[0]; // 'red'` */
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

/** Object sizes. @example `SIZES; // ['small', 'big']` */
export const SIZES = ['small', 'big'] as const;
/** A size name. @example `const s: SizeName = 'big';` */
export type SizeName = (typeof SIZES)[number];

/** Object positions (where the object's centre lies). @example `POSITIONS.length; // 5` */
export const POSITIONS = ['left', 'right', 'top', 'bottom', 'center'] as const;
/** A position name. @example `const p: PositionName = 'left';` */
export type PositionName = (typeof POSITIONS)[number];

/**
 * One object of a scene. `dx`, `dy` (in [-1, 1]) jitter the centre around its position and `rotation` (radians)
 * turns the shape, so no two images of a combination are the same.
 *
 * @example
 * ```ts
 * const o: SceneObject = { shape: 'star', colour: 'red', size: 'big', position: 'left', dx: 0, dy: 0, rotation: 0 };
 * ```
 */
export interface SceneObject {
  shape: ShapeName;
  colour: ColourName;
  size: SizeName;
  position: PositionName;
  dx: number;
  dy: number;
  rotation: number;
}

/**
 * A scene: the background and one or two objects (drawn in order, the second on top; two objects never share a
 * position, and their positions are opposite sides: left/right or top/bottom).
 *
 * @example
 * ```ts
 * const s: Scene = { background: 'blue', objects: [{ shape: 'circle', colour: 'red', size: 'big', position: 'left', dx: 0, dy: 0, rotation: 0 }] };
 * ```
 */
export interface Scene {
  background: ColourName;
  objects: SceneObject[];
}

/** Which scenes a data set draws. @example `const s: Split = 'train';` */
export type Split = 'train' | 'eval';

/**
 * Options of {@link sceneAt}.
 *
 * @example
 * ```ts
 * const o: SceneOptions = { split: 'eval', twoObjects: 0.3 };
 * ```
 */
export interface SceneOptions {
  /** `train` (default): held-out combinations never appear; `eval`: every object's combination is held out. */
  split?: Split;
  /** Probability of a second object (default 0.3). */
  twoObjects?: number;
}

/** The attribute tuple of an object on its background, as one string (`star|red|big|left|blue`). */
export function combinationKey(o: Pick<SceneObject, 'shape' | 'colour' | 'size' | 'position'>, background: ColourName): string {
  return [o.shape, o.colour, o.size, o.position, background].join('|');
}

/** FNV-1a over the key: a fixed, platform-independent hash. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Whether a combination is held out for evaluation (a fixed eighth of them, by hash).
 *
 * @example
 * ```ts
 * isHeldOut({ shape: 'star', colour: 'red', size: 'big', position: 'left' }, 'blue'); // true or false, always the same
 * ```
 */
export function isHeldOut(o: Pick<SceneObject, 'shape' | 'colour' | 'size' | 'position'>, background: ColourName): boolean {
  return fnv1a(combinationKey(o, background)) % 8 === 0;
}

const OPPOSITE: Record<PositionName, PositionName | null> = { left: 'right', right: 'left', top: 'bottom', bottom: 'top', center: null };

/** An object's attributes on its background: one single-object combination. */
export interface Combination {
  shape: ShapeName;
  colour: ColourName;
  size: SizeName;
  position: PositionName;
  background: ColourName;
}

function allCombinations(): Combination[] {
  const out: Combination[] = [];
  for (const background of COLOUR_NAMES) {
    for (const shape of SHAPES) {
      for (const colour of COLOUR_NAMES) {
        if (colour === background) continue;
        for (const size of SIZES) for (const position of POSITIONS) out.push({ shape, colour, size, position, background });
      }
    }
  }
  return out;
}

const ALL = allCombinations();

/**
 * The single-object combinations of a split, in a fixed order (`train`: 7/8 of them; `eval`: the held-out eighth).
 *
 * @example
 * ```ts
 * combinations('eval').length + combinations('train').length; // 2800
 * ```
 */
export function combinations(split: Split): readonly Combination[] {
  return split === 'eval' ? HELD : TRAIN;
}
const HELD = ALL.filter((c) => isHeldOut(c, c.background));
const TRAIN = ALL.filter((c) => !isHeldOut(c, c.background));

/** Uniform draws from one generator, consumed in a fixed order. */
class Draws {
  private readonly u: Float32Array;
  private i = 0;
  constructor(seed: bigint) {
    this.u = createGenerator(seed).uniform(16);
  }
  next(): number {
    return this.u[this.i++]!;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.min(xs.length - 1, Math.floor(this.next() * xs.length))]!;
  }
}

function place(r: Draws, c: Combination): SceneObject {
  return { shape: c.shape, colour: c.colour, size: c.size, position: c.position, dx: r.next() * 2 - 1, dy: r.next() * 2 - 1, rotation: (r.next() * 2 - 1) * 0.35 };
}

/**
 * The scene at `index` of the data set made from `seed`: the same arguments always give the same scene. The first
 * object's combination is drawn uniformly from the split's list; a second one (with probability `twoObjects`, when
 * the first is not at the centre) from the split's combinations on the same background at the opposite position in
 * another colour.
 *
 * @param seed  the data set's seed (an integer)
 * @param index the scene's index (an integer >= 0)
 * @param opts  split and the share of two-object scenes
 * @returns the scene
 * @throws OptionError for a non-integer seed or index, a negative index, an unknown split, or a share outside [0, 1]
 * @example
 * ```ts
 * const s = sceneAt(7, 0);
 * s.objects[0]!.shape; // e.g. 'star'
 * ```
 */
export function sceneAt(seed: number, index: number, opts: SceneOptions = {}): Scene {
  if (!Number.isSafeInteger(seed)) throw new OptionError('seed', `must be an integer, got ${seed}`);
  if (!Number.isSafeInteger(index) || index < 0) throw new OptionError('index', `must be an integer >= 0, got ${index}`);
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'eval') throw new OptionError('split', `must be 'train' or 'eval', got ${String(split)}`);
  const share = opts.twoObjects ?? 0.3;
  if (!(share >= 0 && share <= 1)) throw new OptionError('twoObjects', `must be in [0, 1], got ${share}`);
  const list = combinations(split);
  const r = new Draws((BigInt(seed) << 33n) ^ (BigInt(index) << 1n) ^ (split === 'eval' ? 1n : 0n));
  const first = r.pick(list);
  const objects = [place(r, first)];
  const opposite = OPPOSITE[first.position];
  if (r.next() < share && opposite) {
    const partners = list.filter((c) => c.background === first.background && c.position === opposite && c.colour !== first.colour);
    if (partners.length > 0) objects.push(place(r, r.pick(partners)));
  }
  return { background: first.background, objects };
}
