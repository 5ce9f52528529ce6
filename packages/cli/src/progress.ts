/**
 * A terminal progress bar for long work, with the time spent and, once a unit is done, the time left (from the
 * mean time per unit so far). On a TTY it redraws one line; otherwise it prints a line at each 10 % so logs stay
 * readable.
 * @module
 */

/** A progress reporter: call `tick` as work is done and `done` at the end. */
export interface ProgressBar {
  tick(n?: number, note?: string): void;
  done(note?: string): void;
}

/**
 * Seconds as `42s`, `3m05s` or `1h02m`.
 *
 * @example
 * ```ts
 * formatSeconds(185); // '3m05s'
 * ```
 */
export function formatSeconds(s: number): string {
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Creates a progress bar writing to stderr.
 *
 * @param label  what is being done
 * @param total  number of units of work
 * @example
 * ```ts
 * const bar = progressBar('reading tensors', 120);
 * for (const t of tensors) { read(t); bar.tick(); }
 * bar.done();
 * ```
 */
export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  let count = 0;
  let lastDecile = -1;
  const start = Date.now();
  const tty = stream.isTTY === true;
  const render = (note = ''): void => {
    const frac = total > 0 ? Math.min(1, count / total) : 1;
    const width = 28;
    const filled = Math.round(frac * width);
    const elapsed = (Date.now() - start) / 1000;
    const eta = count > 0 && count < total ? ` eta ${formatSeconds((elapsed / count) * (total - count))}` : '';
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} ${elapsed.toFixed(1)}s${eta} ${note}`;
    if (tty) stream.write(`\r${line.slice(0, (stream.columns ?? 120) - 1).padEnd(Math.min(line.length, 119))}`);
    else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        stream.write(`${line}\n`);
      }
    }
  };
  return {
    tick(n = 1, note) {
      count += n;
      render(note);
    },
    done(note) {
      count = Math.max(count, total);
      render(note);
      if (tty) stream.write('\n');
    },
  };
}
