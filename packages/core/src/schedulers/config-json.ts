/**
 * Reading `scheduler_config.json` text. diffusers writes it with Python's `json`, which emits the non-standard
 * tokens `Infinity`, `-Infinity` and `NaN` (e.g. `"lambda_min_clipped": -Infinity` in every DPM-Solver config);
 * `JSON.parse` rejects them, so they are accepted here outside strings and nowhere else.
 * @module
 */
import type { SchedulerConfig } from './config.js';
import { SchedulerConfigError } from '../errors.js';

const PY_FLOATS: Record<string, number> = { 'Infinity': Infinity, '-Infinity': -Infinity, 'NaN': NaN };

/**
 * Parses the text of a diffusers `scheduler_config.json`, accepting Python's `Infinity`/`-Infinity`/`NaN`.
 *
 * @param text the file's text
 * @param file the file name, for errors
 * @throws SchedulerConfigError when the text is not a JSON object
 * @example
 * ```ts
 * parseSchedulerConfigJson('{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity}')
 *   .lambda_min_clipped; // -Infinity
 * ```
 */
export function parseSchedulerConfigJson(text: string, file?: string): SchedulerConfig {
  // Replace the bare tokens (outside strings) by marker strings, then map them back in a reviver.
  const marker = '\u0000pyfloat:';
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    const token = ['-Infinity', 'Infinity', 'NaN'].find((t) => text.startsWith(t, i));
    if (token) {
      out += JSON.stringify(marker + token);
      i += token.length - 1;
    } else out += c;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(out, (_key, v: unknown) => (typeof v === 'string' && v.startsWith(marker) ? PY_FLOATS[v.slice(marker.length)] : v));
  } catch (e) {
    throw new SchedulerConfigError('<root>', `not valid JSON: ${(e as Error).message}`, file);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SchedulerConfigError('<root>', 'must be a JSON object', file);
  }
  return parsed as SchedulerConfig;
}
