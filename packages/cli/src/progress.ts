/**
 * A terminal progress bar for long work. On a TTY it redraws one line; otherwise it prints a line at each
 * 10 % so logs stay readable.
 * @module
 */

/** A progress reporter: call `tick` as work is done and `done` at the end. */
export interface ProgressBar {
  tick(n?: number, note?: string): void;
  done(note?: string): void;
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
    const secs = ((Date.now() - start) / 1000).toFixed(1);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} ${secs}s ${note}`;
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
