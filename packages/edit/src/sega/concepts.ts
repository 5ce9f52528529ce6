/**
 * SEGA parameters: one {@link SegaConcept} per editing prompt (direction, scale, threshold, warm-up, cool-down,
 * weight), global momentum, the defaults of diffusers' `SemanticStableDiffusionPipeline` (R2 in algorithms.md
 * §1.1.1), validation, and the mapping from diffusers' scalar-or-list keyword arguments.
 * @module
 */
import { OptionError } from '@semedit/core';

/**
 * One edit concept's settings (all optional; defaults in {@link SEGA_DEFAULTS}).
 *
 * @example
 * ```ts
 * const smile: SegaConcept = { scale: 4, threshold: 0.99, warmup: 10 };
 * const noGlasses: SegaConcept = { reverse: true, scale: 5, threshold: 0.975 };
 * ```
 */
export interface SegaConcept {
  /** `edit_guidance_scale` s_e, multiplies ψ before thresholding (default 5). */
  scale?: number;
  /** `edit_threshold` λ in [0, 1]: ψ is kept where |ψ| ≥ its λ-quantile per sample and channel (default 0.9). */
  threshold?: number;
  /** `edit_warmup_steps` δ: first step index (0-based) at which the concept is applied (default 10). */
  warmup?: number;
  /** `edit_cooldown_steps`: absolute step index from which the concept stops (default: never). */
  cooldown?: number;
  /** `edit_weights` g: weight when combining concepts; negative values are clamped to 0, as diffusers (default 1). */
  weight?: number;
  /** `reverse_editing_direction`: remove the concept instead of adding it (default false). */
  reverse?: boolean;
}

/** A concept with every setting filled in (`cooldown` is `Infinity` for "never"). */
export type ResolvedSegaConcept = Required<SegaConcept>;

/**
 * The edit settings of a SEGA run, apart from the CFG scale.
 *
 * @example
 * ```ts
 * const edit: SegaEditParams = { concepts: [{ scale: 6 }, { reverse: true }], momentumScale: 0.3, momBeta: 0.6 };
 * ```
 */
export interface SegaEditParams {
  /** One entry per editing prompt, in the order of the concept rows. */
  concepts: readonly SegaConcept[];
  /** `edit_momentum_scale` s_m (default 0.1). */
  momentumScale?: number;
  /** `edit_mom_beta` β_m in [0, 1) (default 0.4). */
  momBeta?: number;
}

/**
 * Everything {@link segaGuidance} needs for one step: the CFG scale and the edit settings.
 *
 * @example
 * ```ts
 * const params: SegaParams = { guidanceScale: 7.5, concepts: [{ scale: 6, warmup: 2 }] };
 * ```
 */
export interface SegaParams extends SegaEditParams {
  /** Classifier-free guidance scale s_g (diffusers' `guidance_scale`). */
  guidanceScale: number;
}

/** {@link SegaParams} with all defaults filled in. */
export interface ResolvedSegaParams {
  guidanceScale: number;
  concepts: ResolvedSegaConcept[];
  momentumScale: number;
  momBeta: number;
}

/**
 * diffusers' defaults (R2, `SemanticStableDiffusionPipeline.__call__`).
 *
 * @example
 * ```ts
 * SEGA_DEFAULTS.threshold; // 0.9
 * ```
 */
export const SEGA_DEFAULTS = {
  scale: 5, threshold: 0.9, warmup: 10, cooldown: Infinity, weight: 1, reverse: false, momentumScale: 0.1, momBeta: 0.4,
} as const;

function finite(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new OptionError(name, `must be a finite number, got ${String(v)}`);
  return v;
}

function stepIndex(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new OptionError(name, `must be a non-negative integer step index, got ${String(v)}`);
  return v;
}

/**
 * Fills defaults and validates one concept; errors name the concept index and the setting.
 *
 * @param c     the concept
 * @param index its index, for messages
 * @example
 * ```ts
 * resolveSegaConcept({ scale: 6 }, 0); // { scale: 6, threshold: 0.9, warmup: 10, cooldown: Infinity, weight: 1, reverse: false }
 * ```
 */
export function resolveSegaConcept(c: SegaConcept, index: number): ResolvedSegaConcept {
  const at = `concepts[${index}]`;
  const threshold = finite(`${at}.threshold`, c.threshold ?? SEGA_DEFAULTS.threshold);
  if (threshold < 0 || threshold > 1) throw new OptionError(`${at}.threshold`, `must be in [0, 1], got ${threshold}`);
  if (c.reverse !== undefined && typeof c.reverse !== 'boolean') throw new OptionError(`${at}.reverse`, 'must be a boolean');
  return {
    scale: finite(`${at}.scale`, c.scale ?? SEGA_DEFAULTS.scale),
    threshold,
    warmup: stepIndex(`${at}.warmup`, c.warmup ?? SEGA_DEFAULTS.warmup),
    cooldown: c.cooldown === undefined || c.cooldown === Infinity ? Infinity : stepIndex(`${at}.cooldown`, c.cooldown),
    weight: finite(`${at}.weight`, c.weight ?? SEGA_DEFAULTS.weight),
    reverse: c.reverse ?? SEGA_DEFAULTS.reverse,
  };
}

/**
 * Fills defaults and validates all SEGA parameters.
 *
 * @param p CFG scale, concepts, momentum
 * @example
 * ```ts
 * resolveSegaParams({ guidanceScale: 7.5, concepts: [{}] }).momBeta; // 0.4
 * ```
 */
export function resolveSegaParams(p: SegaParams): ResolvedSegaParams {
  if (!Array.isArray(p.concepts)) throw new OptionError('concepts', 'must be an array');
  const momBeta = finite('momBeta', p.momBeta ?? SEGA_DEFAULTS.momBeta);
  if (momBeta < 0 || momBeta > 1) throw new OptionError('momBeta', `must be in [0, 1], got ${momBeta}`);
  return {
    guidanceScale: finite('guidanceScale', p.guidanceScale),
    concepts: p.concepts.map((c, i) => resolveSegaConcept(c, i)),
    momentumScale: finite('momentumScale', p.momentumScale ?? SEGA_DEFAULTS.momentumScale),
    momBeta,
  };
}

/**
 * The concepts that can never act in a run of `numSteps` steps, each with the reason in the user's terms: a
 * warm-up that reaches the end, a cool-down at or before the warm-up, a zero scale, or a weight ≤ 0 (the weights
 * are clamped at 0, as diffusers does). An edit whose every concept is listed would return the unedited image.
 *
 * @param p        resolved SEGA parameters
 * @param numSteps sampler steps of the run
 * @example
 * ```ts
 * inactiveConcepts(resolveSegaParams({ guidanceScale: 7.5, concepts: [{ warmup: 10 }] }), 2);
 * // [{ index: 0, reason: 'warm-up 10 >= 2 steps: it never starts' }]
 * ```
 */
export function inactiveConcepts(p: ResolvedSegaParams, numSteps: number): { index: number; reason: string }[] {
  return p.concepts.flatMap((c, index) => {
    const reason = c.warmup >= numSteps ? `warm-up ${c.warmup} >= ${numSteps} steps: it never starts`
      : c.cooldown <= c.warmup ? `cool-down ${c.cooldown} <= warm-up ${c.warmup}: it never acts`
        : c.scale === 0 ? 'scale 0: it adds nothing'
          : c.weight <= 0 ? `weight ${c.weight} <= 0 (clamped to 0): it adds nothing`
            : undefined;
    return reason === undefined ? [] : [{ index, reason }];
  });
}

/**
 * diffusers' SEGA keyword arguments (each per-concept one a scalar for all or a list), e.g. a fixture's params.
 *
 * @example
 * ```ts
 * const args: DiffusersSegaArgs = { edit_guidance_scale: [6, 4], edit_threshold: 0.9, reverse_editing_direction: [false, true] };
 * ```
 */
export interface DiffusersSegaArgs {
  guidance_scale?: number;
  reverse_editing_direction?: boolean | readonly boolean[];
  edit_guidance_scale?: number | readonly number[];
  edit_threshold?: number | readonly number[];
  edit_warmup_steps?: number | readonly number[];
  edit_cooldown_steps?: number | readonly number[] | null;
  edit_momentum_scale?: number;
  edit_mom_beta?: number;
  edit_weights?: readonly number[] | null;
}

function pick<T>(name: string, v: T | readonly T[] | null | undefined, c: number, count: number): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return v as T;
  if (c >= v.length) throw new OptionError(name, `has ${v.length} entries for ${count} concepts`);
  return v[c] as T;
}

/**
 * Maps diffusers' keyword arguments to {@link SegaParams} for `count` concepts, with diffusers' rules: a scalar
 * applies to every concept, list entry c to concept c (entries past `count` are ignored, as diffusers does),
 * a missing `edit_weights` means 1 each, `edit_cooldown_steps=None` never stops.
 *
 * @param args  diffusers' kwargs (snake_case)
 * @param count number of editing prompts
 * @example
 * ```ts
 * const p = segaParamsFromDiffusers({ guidance_scale: 7.5, edit_guidance_scale: [6, 4], edit_weights: [1.2, 0.8] }, 2);
 * p.concepts[1]; // { scale: 4, weight: 0.8 }
 * ```
 */
export function segaParamsFromDiffusers(args: DiffusersSegaArgs, count: number): SegaParams {
  const concepts = Array.from({ length: count }, (_, c): SegaConcept => {
    const entry: SegaConcept = {};
    const scale = pick('edit_guidance_scale', args.edit_guidance_scale, c, count);
    const threshold = pick('edit_threshold', args.edit_threshold, c, count);
    const warmup = pick('edit_warmup_steps', args.edit_warmup_steps, c, count);
    const cooldown = pick('edit_cooldown_steps', args.edit_cooldown_steps, c, count);
    const weight = pick('edit_weights', args.edit_weights, c, count);
    const reverse = pick('reverse_editing_direction', args.reverse_editing_direction, c, count);
    if (scale !== undefined) entry.scale = scale;
    if (threshold !== undefined) entry.threshold = threshold;
    if (warmup !== undefined) entry.warmup = warmup;
    if (cooldown !== undefined) entry.cooldown = cooldown;
    if (weight !== undefined) entry.weight = weight;
    if (reverse !== undefined) entry.reverse = reverse;
    return entry;
  });
  return {
    guidanceScale: args.guidance_scale ?? 7.5,
    concepts,
    momentumScale: args.edit_momentum_scale,
    momBeta: args.edit_mom_beta,
  };
}
