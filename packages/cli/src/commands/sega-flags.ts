/**
 * SEGA's command-line flags, shared by `semedit sega` and `semedit edit`: concepts in `--add`/`--remove` order,
 * per-concept settings given once for all or once per concept, momentum. Everything is validated, in the flags'
 * own names, before a model is loaded; a concept that could never act (warm-up past the last step, a zero weight)
 * is refused instead of writing an "edit" identical to the unedited image.
 * @module
 */
import { OptionError } from '@semedit/core';
import { SEGA_DEFAULTS, inactiveConcepts, resolveSegaParams, type SegaConceptInput, type SegaEdit } from '@semedit/edit';
import { type OptionSpec, numberOption } from '../args.js';

/** One concept as the settings JSON records it (the values used, defaults filled in). */
export interface SegaConceptReport {
  prompt: string;
  direction: 'add' | 'remove';
  scale: number;
  threshold: number;
  warmup: number;
  cooldown: number | null;
  weight: number;
}

/** The SEGA flags; `prefix` is empty for `sega` (whose `--scale` etc. are the concepts') and set where they would clash. */
export const SEGA_FLAGS: OptionSpec = {
  add: { type: 'string', multiple: true }, remove: { type: 'string', multiple: true },
  scale: { type: 'string', multiple: true }, threshold: { type: 'string', multiple: true },
  warmup: { type: 'string', multiple: true }, cooldown: { type: 'string', multiple: true }, weight: { type: 'string', multiple: true },
  momentum: { type: 'string' }, 'mom-beta': { type: 'string' }, 'concept-chunk': { type: 'string' },
};

/** Library option names (as `resolveSegaParams` reports them) -> the flag a user typed. */
const FLAG_OF: Record<string, string> = {
  scale: 'scale', threshold: 'threshold', warmup: 'warmup', cooldown: 'cooldown', weight: 'weight', reverse: 'remove',
  momBeta: 'mom-beta', momentumScale: 'momentum', guidanceScale: 'cfg', concepts: 'add',
};

/** A repeatable per-concept option: none, one value for every concept, or exactly one per concept in order. */
function perConcept(name: string, v: unknown, count: number, int: boolean): (number | undefined)[] {
  const list = v === undefined ? [] : (v as string[]);
  if (list.length > 1 && list.length !== count) {
    throw new OptionError(name, `was given ${list.length} times for ${count} concepts: give it once (for all) or once per concept, in --add/--remove order`);
  }
  return Array.from({ length: count }, (_, i) => numberOption(name, list.length === 1 ? list[0] : list[i], { int: int }));
}

/**
 * Parses and validates the SEGA flags of a command line.
 *
 * @param occurrences every option in command-line order (for the order of `--add`/`--remove`)
 * @param values   the parsed values
 * @param run      the run's steps and CFG scale (a concept must be able to act within them)
 * @param required whether at least one concept is needed
 * @throws OptionError naming the flag (`--threshold 1.5`, `--mom-beta 2`, `--concept-chunk 0`, `--warmup` past the end, …)
 * @example
 * ```ts
 * const sega = parseSegaFlags(parsed.order, parsed.values, { steps: 20, cfg: 7.5 }, true);
 * sega.edit.concepts.length; // one per --add/--remove
 * ```
 */
export function parseSegaFlags(
  occurrences: readonly { name: string; value: string | undefined }[], values: Record<string, unknown>, run: { steps: number; cfg: number }, required: boolean,
): { edit: SegaEdit; report: SegaConceptReport[]; momentumScale: number; momBeta: number } | undefined {
  const order = occurrences.flatMap((t) => (t.name === 'add' || t.name === 'remove' ? [{ prompt: t.value ?? '', direction: t.name as 'add' | 'remove' }] : []));
  if (order.length === 0) {
    if (required) throw new OptionError('add', 'give at least one --add or --remove concept');
    for (const f of ['scale', 'threshold', 'warmup', 'cooldown', 'weight', 'momentum', 'mom-beta', 'concept-chunk']) {
      if (values[f] !== undefined) throw new OptionError(f, 'is a SEGA concept setting: give a concept with --add or --remove');
    }
    return undefined;
  }
  order.forEach((c, i) => { if (c.prompt.trim() === '') throw new OptionError(c.direction, `concept ${i} is empty`); });
  const n = order.length;
  const [scales, thresholds, warmups, cooldowns, weights] = (['scale', 'threshold', 'warmup', 'cooldown', 'weight'] as const)
    .map((f) => perConcept(f, values[f], n, f === 'warmup' || f === 'cooldown'));
  const concepts: SegaConceptInput[] = order.map((c, i) => ({
    prompt: c.prompt, reverse: c.direction === 'remove', scale: scales![i], threshold: thresholds![i], warmup: warmups![i], cooldown: cooldowns![i], weight: weights![i],
  }));
  const momentumScale = numberOption('momentum', values['momentum'], { int: false }) ?? SEGA_DEFAULTS.momentumScale;
  const momBeta = numberOption('mom-beta', values['mom-beta'], { int: false }) ?? SEGA_DEFAULTS.momBeta;
  const chunk = numberOption('concept-chunk', values['concept-chunk'], { int: true });
  if (chunk !== undefined && chunk < 1) throw new OptionError('concept-chunk', `must be a positive integer, got ${chunk}`);
  if (run.cfg <= 1) throw new OptionError('cfg', `SEGA needs classifier-free guidance > 1 (got ${run.cfg}); at <= 1 diffusers silently drops every edit`);
  let params;
  try {
    params = resolveSegaParams({ guidanceScale: run.cfg, concepts: concepts.map(({ prompt: _p, ...s }) => s), momentumScale, momBeta });
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    const key = e.option.split('.').pop()!;
    const at = /concepts\[(\d+)\]/.exec(e.option);
    throw new OptionError(FLAG_OF[key] ?? e.option, `${at ? `concept ${at[1]} ("${order[Number(at[1])]!.prompt}"): ` : ''}${e.message.replace(/^option "[^"]*": /, '')}`);
  }
  const dead = inactiveConcepts(params, run.steps);
  if (dead.length === n) {
    const d = dead[0]!;
    const flag = /warm-up/.test(d.reason) && !/cool-down/.test(d.reason) ? 'warmup' : /cool-down/.test(d.reason) ? 'cooldown' : /scale/.test(d.reason) ? 'scale' : 'weight';
    throw new OptionError(flag, `no concept can act, so the edit would equal the unedited image: concept ${d.index} ("${order[d.index]!.prompt}"): ${d.reason}`);
  }
  const report = order.map((c, i): SegaConceptReport => {
    const p = params.concepts[i]!;
    return { prompt: c.prompt, direction: c.direction, scale: p.scale, threshold: p.threshold, warmup: p.warmup, cooldown: p.cooldown === Infinity ? null : p.cooldown, weight: Math.max(0, p.weight) };
  });
  return { edit: { concepts, momentumScale, momBeta, conceptChunk: chunk, recordGuidance: false }, report, momentumScale, momBeta };
}
