/**
 * Loss curves as a picture: one line per loss over the steps, on a log scale when the values span more than a
 * decade, with the axes' ranges written on it, and a moving average drawn over the raw line.
 * @module
 */
import { OptionError } from '@semedit/core';
import { createImage, drawText, GLYPH_HEIGHT, measureText, writePng, type Image } from '@semedit/core/image';

/**
 * One named series of (step, value) points.
 *
 * @example
 * ```ts
 * const s: Series = { name: 'loss', points: [[1, 2.3], [2, 1.9]] };
 * ```
 */
export interface Series {
  name: string;
  points: [number, number][];
}

const PALETTE: [number, number, number][] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75]];

function line(img: Image, x0: number, y0: number, x1: number, y1: number, c: readonly number[]): void {
  const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
  for (let i = 0; i <= n; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / n), y = Math.round(y0 + ((y1 - y0) * i) / n);
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
    const at = (y * img.width + x) * 3;
    img.data[at] = c[0]!;
    img.data[at + 1] = c[1]!;
    img.data[at + 2] = c[2]!;
  }
}

function smooth(points: [number, number][], window: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  points.forEach(([x, y], i) => {
    sum += y;
    if (i >= window) sum -= points[i - window]![1];
    out.push([x, sum / Math.min(i + 1, window)]);
  });
  return out;
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : v.toPrecision(3));

/**
 * Draws loss curves.
 *
 * @param series the curves (non-finite and, on a log scale, non-positive values are skipped)
 * @param opts   `width`, `height` (pixels; default 640 x 360), `title`
 * @returns an RGB image
 * @throws OptionError when there is nothing to draw or the size is too small
 * @example
 * ```ts
 * const img = drawCurves([{ name: 'loss', points: [[1, 2.3], [2, 1.9], [3, 1.2]] }], { title: 'classifier' });
 * img.width; // 640
 * ```
 */
export function drawCurves(series: readonly Series[], opts: { width?: number; height?: number; title?: string } = {}): Image {
  const width = opts.width ?? 640, height = opts.height ?? 360;
  if (width < 160 || height < 120) throw new OptionError('width/height', `must be at least 160 x 120, got ${width} x ${height}`);
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (all.length === 0) throw new OptionError('series', 'has no finite points');
  const ys = all.map(([, y]) => y), xs = all.map(([x]) => x);
  const positive = ys.filter((y) => y > 0);
  const log = positive.length === ys.length && Math.max(...ys) / Math.min(...ys) > 10;
  const ty = (y: number): number => (log ? Math.log10(y) : y);
  let [yLo, yHi] = [Math.min(...ys.map(ty)), Math.max(...ys.map(ty))];
  if (yHi - yLo < 1e-12) [yLo, yHi] = [yLo - 0.5, yHi + 0.5];
  let [xLo, xHi] = [Math.min(...xs), Math.max(...xs)];
  if (xHi === xLo) xHi = xLo + 1;
  const img = createImage(width, height, 3, 255);
  const left = 8 + measureText('0.000e+0'), right = width - 10, top = 14 + GLYPH_HEIGHT, bottom = height - 14 - GLYPH_HEIGHT;
  const px = (x: number): number => left + ((x - xLo) / (xHi - xLo)) * (right - left);
  const py = (y: number): number => bottom - ((ty(y) - yLo) / (yHi - yLo)) * (bottom - top);
  const grey = [160, 160, 160];
  line(img, left, top, left, bottom, grey);
  line(img, left, bottom, right, bottom, grey);
  const black: [number, number, number] = [0, 0, 0];
  const yLabel = (v: number): string => fmt(log ? 10 ** v : v);
  drawText(img, yLabel(yHi), 2, top - 3, { color: black });
  drawText(img, yLabel(yLo), 2, bottom - GLYPH_HEIGHT, { color: black });
  drawText(img, `step ${fmt(xLo)}`, left, bottom + 4, { color: black });
  const xHiText = `${fmt(xHi)}${log ? '  (log scale)' : ''}`;
  drawText(img, xHiText, right - measureText(xHiText), bottom + 4, { color: black });
  let legendX = left + 4;
  if (opts.title) {
    drawText(img, opts.title, legendX, 4, { color: black });
    legendX += measureText(opts.title) + 12;
  }
  series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0));
    const faint = c.map((v) => Math.round(v + (255 - v) * 0.65));
    for (let k = 1; k < pts.length; k++) line(img, px(pts[k - 1]![0]), py(pts[k - 1]![1]), px(pts[k]![0]), py(pts[k]![1]), faint);
    const avg = smooth(pts, Math.max(1, Math.round(pts.length / 50)));
    for (let k = 1; k < avg.length; k++) line(img, px(avg[k - 1]![0]), py(avg[k - 1]![1]), px(avg[k]![0]), py(avg[k]![1]), c);
    drawText(img, s.name, legendX, 4, { color: c });
    legendX += measureText(s.name) + 12;
  });
  return img;
}

/**
 * Draws the losses of a loss log ({@link readLossLog}'s lines) to a PNG file, one curve per loss name.
 *
 * @example
 * ```ts
 * await writeCurves('out/classifier.png', await readLossLog(lossLogPath(ckpt)), 'classifier');
 * ```
 */
export async function writeCurves(path: string, log: readonly ({ step: number } & Record<string, number>)[], title: string): Promise<void> {
  const names = [...new Set(log.flatMap((l) => Object.keys(l).filter((k) => k !== 'step')))];
  await writePng(path, drawCurves(names.map((name) => ({ name, points: log.filter((l) => name in l).map((l) => [l.step, l[name]!] as [number, number]) })), { title }));
}
