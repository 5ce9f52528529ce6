/**
 * Finding the Python that runs the PyTorch baselines. Debian's `python3-torch` lives in `/usr/bin/python3`'s
 * dist-packages, which a pyenv `python3` earlier on PATH does not see, so several candidates are tried.
 */
import { spawnSync } from 'node:child_process';

/** A Python that imports the given modules, or why there is none. */
export type FoundPython = { python: string } | { reason: string };

/**
 * The first of `$SEMEDIT_PYTHON`, `python3`, `/usr/bin/python3` that imports every module in `modules`.
 *
 * @param modules Python modules that must import (default `['torch']`)
 * @example
 * ```ts
 * const py = findPython();
 * if ('reason' in py) console.warn(py.reason); else run(py.python);
 * ```
 */
export function findPython(modules: readonly string[] = ['torch']): FoundPython {
  const candidates = [process.env['SEMEDIT_PYTHON'], 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  const tried: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', modules.map((m) => `import ${m}`).join('; ')], { encoding: 'utf8' });
    if (r.status === 0) return { python: py };
    tried.push(`${py}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${String(r.status)}`)}`);
  }
  return { reason: `no Python that imports ${modules.join(', ')} (${tried.join('; ')}); run bash bench/setup.sh` };
}
