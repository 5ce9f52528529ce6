/**
 * Whether the addon is there, without registering anything.
 * @module
 */
import { loadAddon } from './addon.js';

/**
 * `{ available: true, path }` when the addon loads, else `{ available: false, reason }` (one line).
 *
 * @example
 * ```ts
 * const a = nativeAvailability();
 * if (!a.available) console.log(`native unavailable: ${a.reason}`);
 * ```
 */
export function nativeAvailability(): { available: true; path: string } | { available: false; reason: string } {
  const r = loadAddon();
  return 'reason' in r ? { available: false, reason: r.reason } : { available: true, path: r.path };
}
