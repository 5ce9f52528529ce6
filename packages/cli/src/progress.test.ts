/**
 * The progress bar: counts, time spent and the time left (from the mean time per unit so far), one redrawn line on a
 * TTY and a line per 10 % elsewhere; durations read as people write them.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatSeconds, progressBar } from './progress.js';

function sink(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const w = new Writable({ write(chunk, _enc, cb) { out += String(chunk); cb(); } }) as unknown as NodeJS.WriteStream;
  Object.assign(w, { isTTY: tty, columns: 200 });
  return { stream: w, text: () => out };
}

afterEach(() => vi.useRealTimers());

describe('progress bar', () => {
  it('shows the time left from the mean pace, and none before the first unit or after the last', () => {
    vi.useFakeTimers({ now: 0 });
    const s = sink(true);
    const bar = progressBar('sampling', 4, s.stream);
    bar.tick(0);
    expect(s.text()).not.toMatch(/eta/);
    vi.setSystemTime(10_000);
    bar.tick(); // 10 s for one step: three left, 30 s
    expect(s.text()).toMatch(/sampling \[#{7}\.{21}\] 1\/4 10\.0s eta 30s/);
    vi.setSystemTime(100_000);
    bar.tick(); // 50 s a step: two left
    expect(s.text()).toMatch(/2\/4 100\.0s eta 1m40s/);
    bar.done();
    expect(s.text().split('\r').at(-1)).toMatch(/4\/4 100\.0s \n?$/);
  });

  it('prints a line per tenth when not on a terminal', () => {
    const s = sink(false);
    const bar = progressBar('reading', 20, s.stream);
    for (let i = 0; i < 20; i++) bar.tick();
    bar.done();
    expect(s.text().trim().split('\n').length).toBe(11);
  });

  it('formats durations', () => {
    expect([formatSeconds(0), formatSeconds(42.4), formatSeconds(185), formatSeconds(3720), formatSeconds(-3)]).toEqual(['0s', '42s', '3m05s', '1h02m', '0s']);
  });
});
