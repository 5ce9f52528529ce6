/**
 * A tiny 5x7 bitmap font for ASCII 32..126 and a text renderer onto {@link Image}s, used to label grid tiles.
 * Glyphs were drawn for this project; each is 7 rows of 5 pixels (`#` on, `.` off), top row first. Letters with
 * descenders (g, j, p, q, y) sit one or two rows higher so that they fit the 7-row cell.
 * @module
 */
import { OptionError } from '../errors.js';
import type { Image } from './image.js';

/** Glyph width in pixels (before scaling); characters advance by `GLYPH_WIDTH + 1`. */
export const GLYPH_WIDTH = 5;
/** Glyph height in pixels (before scaling). */
export const GLYPH_HEIGHT = 7;

/** Glyphs for character codes 32 (space) to 126 (`~`), in order. */
const GLYPHS: readonly string[] = [
  '..... ..... ..... ..... ..... ..... .....', // space
  '..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..', // !
  '.#.#. .#.#. ..... ..... ..... ..... .....', // "
  '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.', // #
  '..#.. .#### #.#.. .###. ..#.# ####. ..#..', // $
  '##... ##..# ...#. ..#.. .#... #..## ...##', // %
  '.##.. #..#. #.#.. .#... #.#.# #..#. .##.#', // &
  '..#.. ..#.. .#... ..... ..... ..... .....', // '
  '...#. ..#.. .#... .#... .#... ..#.. ...#.', // (
  '.#... ..#.. ...#. ...#. ...#. ..#.. .#...', // )
  '..... ..#.. #.#.# .###. #.#.# ..#.. .....', // *
  '..... ..#.. ..#.. ##### ..#.. ..#.. .....', // +
  '..... ..... ..... ..... .##.. ..#.. .#...', // ,
  '..... ..... ..... ##### ..... ..... .....', // -
  '..... ..... ..... ..... ..... .##.. .##..', // .
  '..... ....# ...#. ..#.. .#... #.... .....', // /
  '.###. #...# #..## #.#.# ##..# #...# .###.', // 0
  '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.', // 1
  '.###. #...# ....# ...#. ..#.. .#... #####', // 2
  '##### ...#. ..#.. ...#. ....# #...# .###.', // 3
  '...#. ..##. .#.#. #..#. ##### ...#. ...#.', // 4
  '##### #.... ####. ....# ....# #...# .###.', // 5
  '..##. .#... #.... ####. #...# #...# .###.', // 6
  '##### ....# ...#. ..#.. .#... .#... .#...', // 7
  '.###. #...# #...# .###. #...# #...# .###.', // 8
  '.###. #...# #...# .#### ....# ...#. .##..', // 9
  '..... .##.. .##.. ..... .##.. .##.. .....', // :
  '..... .##.. .##.. ..... .##.. ..#.. .#...', // ;
  '...#. ..#.. .#... #.... .#... ..#.. ...#.', // <
  '..... ..... ##### ..... ##### ..... .....', // =
  '.#... ..#.. ...#. ....# ...#. ..#.. .#...', // >
  '.###. #...# ....# ...#. ..#.. ..... ..#..', // ?
  '.###. #...# ....# .##.# #.#.# #.#.# .###.', // @
  '.###. #...# #...# ##### #...# #...# #...#', // A
  '####. #...# #...# ####. #...# #...# ####.', // B
  '.###. #...# #.... #.... #.... #...# .###.', // C
  '###.. #..#. #...# #...# #...# #..#. ###..', // D
  '##### #.... #.... ####. #.... #.... #####', // E
  '##### #.... #.... ####. #.... #.... #....', // F
  '.###. #...# #.... #.### #...# #...# .####', // G
  '#...# #...# #...# ##### #...# #...# #...#', // H
  '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.', // I
  '..### ...#. ...#. ...#. ...#. #..#. .##..', // J
  '#...# #..#. #.#.. ##... #.#.. #..#. #...#', // K
  '#.... #.... #.... #.... #.... #.... #####', // L
  '#...# ##.## #.#.# #.#.# #...# #...# #...#', // M
  '#...# #...# ##..# #.#.# #..## #...# #...#', // N
  '.###. #...# #...# #...# #...# #...# .###.', // O
  '####. #...# #...# ####. #.... #.... #....', // P
  '.###. #...# #...# #...# #.#.# #..#. .##.#', // Q
  '####. #...# #...# ####. #.#.. #..#. #...#', // R
  '.#### #.... #.... .###. ....# ....# ####.', // S
  '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..', // T
  '#...# #...# #...# #...# #...# #...# .###.', // U
  '#...# #...# #...# #...# #...# .#.#. ..#..', // V
  '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.', // W
  '#...# #...# .#.#. ..#.. .#.#. #...# #...#', // X
  '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..', // Y
  '##### ....# ...#. ..#.. .#... #.... #####', // Z
  '.###. .#... .#... .#... .#... .#... .###.', // [
  '..... #.... .#... ..#.. ...#. ....# .....', // \
  '.###. ...#. ...#. ...#. ...#. ...#. .###.', // ]
  '..#.. .#.#. #...# ..... ..... ..... .....', // ^
  '..... ..... ..... ..... ..... ..... #####', // _
  '.#... ..#.. ...#. ..... ..... ..... .....', // `
  '..... ..... .###. ....# .#### #...# .####', // a
  '#.... #.... #.##. ##..# #...# #...# ####.', // b
  '..... ..... .###. #.... #.... #...# .###.', // c
  '....# ....# .##.# #..## #...# #...# .####', // d
  '..... ..... .###. #...# ##### #.... .###.', // e
  '..##. .#..# .#... ###.. .#... .#... .#...', // f
  '..... .#### #...# #...# .#### ....# .###.', // g
  '#.... #.... #.##. ##..# #...# #...# #...#', // h
  '..#.. ..... .##.. ..#.. ..#.. ..#.. .###.', // i
  '...#. ..... ..##. ...#. ...#. #..#. .##..', // j
  '#.... #.... #..#. #.#.. ##... #.#.. #..#.', // k
  '.##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.', // l
  '..... ..... ##.#. #.#.# #.#.# #...# #...#', // m
  '..... ..... #.##. ##..# #...# #...# #...#', // n
  '..... ..... .###. #...# #...# #...# .###.', // o
  '..... ####. #...# #...# ####. #.... #....', // p
  '..... .#### #...# #...# .#### ....# ....#', // q
  '..... ..... #.##. ##..# #.... #.... #....', // r
  '..... ..... .#### #.... .###. ....# ####.', // s
  '.#... .#... ###.. .#... .#... .#..# ..##.', // t
  '..... ..... #...# #...# #...# #..## .##.#', // u
  '..... ..... #...# #...# #...# .#.#. ..#..', // v
  '..... ..... #...# #...# #.#.# #.#.# .#.#.', // w
  '..... ..... #...# .#.#. ..#.. .#.#. #...#', // x
  '..... #...# #...# #...# .#### ....# .###.', // y
  '..... ..... ##### ...#. ..#.. .#... #####', // z
  '...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.', // {
  '..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..', // |
  '.#... ..#.. ..#.. ...#. ..#.. ..#.. .#...', // }
  '..... ..... .#... #.#.# ...#. ..... .....', // ~
];

/** Row bit masks (bit 4 = leftmost pixel) of each glyph, decoded once. */
const MASKS: readonly (readonly number[])[] = GLYPHS.map((g) => g.split(' ').map((r) => parseInt(r.replace(/#/g, '1').replace(/\./g, '0'), 2)));

/**
 * The 7 row bit masks of one character's glyph (bit 4 is the leftmost pixel).
 *
 * @param ch a single character with code 32..126
 * @throws OptionError for any other character
 * @example
 * ```ts
 * console.log(glyphRows('T')); // [31, 4, 4, 4, 4, 4, 4]
 * ```
 */
export function glyphRows(ch: string): readonly number[] {
  const code = ch.codePointAt(0) ?? -1;
  const rows = ch.length === 1 ? MASKS[code - 32] : undefined;
  if (!rows) {
    const hex = code.toString(16).toUpperCase().padStart(4, '0');
    throw new OptionError('text', `character U+${hex} (${JSON.stringify(ch)}) is not in the built-in font (ASCII 32..126)`);
  }
  return rows;
}

/**
 * Width in pixels of `text` drawn at `scale`: `6 * scale` per character, less the trailing 1-pixel gap.
 *
 * @param text  ASCII text
 * @param scale integer pixel scale (1 gives 5x7 glyphs)
 * @example
 * ```ts
 * console.log(measureText('abc')); // 17
 * ```
 */
export function measureText(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

/** Options of {@link drawText}. */
export interface DrawTextOptions {
  /** Colour, one value per channel of the target image (or one value for all). */
  color: number | readonly number[];
  /** Integer pixel scale; default 1. */
  scale?: number;
}

/**
 * Draws `text` onto `img` in place with its top-left corner at (`x`, `y`); pixels outside the image are skipped.
 *
 * @param img  target image (modified)
 * @param text ASCII 32..126 text (other characters throw OptionError)
 * @param x    left edge in pixels
 * @param y    top edge in pixels
 * @param opts colour and scale
 * @example
 * ```ts
 * const img = createImage(40, 9, 3);
 * drawText(img, 'hi', 1, 1, { color: [255, 255, 255] });
 * ```
 */
export function drawText(img: Image, text: string, x: number, y: number, opts: DrawTextOptions): void {
  const scale = opts.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new OptionError('scale', `must be a positive integer, got ${scale}`);
  const c = img.channels;
  const colour = typeof opts.color === 'number' ? Array<number>(c).fill(opts.color) : opts.color;
  if (colour.length !== c) throw new OptionError('color', `has ${colour.length} values for a ${c}-channel image`);
  const glyphs = Array.from(text, glyphRows);
  glyphs.forEach((rows, i) => {
    const gx = x + i * (GLYPH_WIDTH + 1) * scale;
    rows.forEach((mask, r) => {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (!(mask & (1 << (GLYPH_WIDTH - 1 - col)))) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = gx + col * scale + dx;
            const py = y + r * scale + dy;
            if (px < 0 || py < 0 || px >= img.width || py >= img.height) continue;
            const o = (py * img.width + px) * c;
            for (let k = 0; k < c; k++) img.data[o + k] = colour[k]!;
          }
        }
      }
    });
  });
}
