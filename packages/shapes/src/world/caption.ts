/**
 * Captions of shapes-world scenes, from templates. Every caption names every attribute of every object and the
 * background with the vocabulary's own words (one word each: "red", "star", "big"), so a prompt edit is a word
 * swap ("circle" to "star") and an edit concept is a word ("red", "star", "small"). The templates vary the order and
 * the phrasing around those words; variant 0 is the canonical one, used for prompts.
 * @module
 */
import { OptionError } from '@semedit/core';
import type { PositionName, Scene, SceneObject } from './scene.js';

const WHERE: Record<PositionName, string> = {
  left: 'on the left',
  right: 'on the right',
  top: 'at the top',
  bottom: 'at the bottom',
  center: 'in the middle',
};

const noun = (o: SceneObject): string => `${o.size} ${o.colour} ${o.shape}`;

type Template = (objects: SceneObject[], background: string) => string;

/** One-object templates; `o` is the object, `bg` the background colour. */
const ONE: Template[] = [
  ([o], bg) => `a ${noun(o!)} ${WHERE[o!.position]} on a ${bg} background`,
  ([o], bg) => `${bg} background, ${noun(o!)} ${WHERE[o!.position]}`,
  ([o], bg) => `a ${noun(o!)} ${WHERE[o!.position]}, ${bg} background`,
  ([o], bg) => `${WHERE[o!.position]}, a ${noun(o!)} on a ${bg} background`,
  ([o], bg) => `a picture of a ${noun(o!)} ${WHERE[o!.position]} on ${bg}`,
];

/** Two-object templates. */
const TWO: Template[] = [
  ([a, b], bg) => `a ${noun(a!)} ${WHERE[a!.position]} and a ${noun(b!)} ${WHERE[b!.position]} on a ${bg} background`,
  ([a, b], bg) => `${bg} background, ${noun(a!)} ${WHERE[a!.position]}, ${noun(b!)} ${WHERE[b!.position]}`,
  ([a, b], bg) => `a ${noun(a!)} ${WHERE[a!.position]}, a ${noun(b!)} ${WHERE[b!.position]}, ${bg} background`,
  ([a, b], bg) => `${WHERE[a!.position]} a ${noun(a!)}, ${WHERE[b!.position]} a ${noun(b!)}, on a ${bg} background`,
];

/**
 * How many caption variants a scene with `objects` objects has.
 *
 * @example
 * ```ts
 * captionVariants(1); // 5
 * ```
 */
export function captionVariants(objects: number): number {
  if (objects !== 1 && objects !== 2) throw new OptionError('objects', `must be 1 or 2, got ${objects}`);
  return objects === 1 ? ONE.length : TWO.length;
}

/**
 * The caption of a scene in one of its template variants (0, the default, is the canonical one).
 *
 * @param scene   the scene
 * @param variant the template, an integer in [0, captionVariants(objects))
 * @returns the caption, lower case
 * @throws OptionError for a scene without one or two objects or a variant out of range
 * @example
 * ```ts
 * captionOf(scene); // 'a big red circle on the left on a blue background'
 * captionOf(scene, 1); // 'blue background, big red circle on the left'
 * ```
 */
export function captionOf(scene: Scene, variant = 0): string {
  const n = captionVariants(scene.objects.length);
  if (!Number.isInteger(variant) || variant < 0 || variant >= n) throw new OptionError('variant', `must be an integer in [0, ${n}), got ${variant}`);
  const templates = scene.objects.length === 1 ? ONE : TWO;
  return templates[variant]!(scene.objects, scene.background);
}
