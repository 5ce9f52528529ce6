/**
 * The fused-activation codes shared with the addon (`Activation` in src/addon/common.h).
 * @module
 */

const CODES: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, leakyrelu: 4, sigmoid: 5 };

/**
 * The addon's code of a tfjs fused activation, or `undefined` for one it does not fuse (`prelu`).
 *
 * @example
 * ```ts
 * activationCode('relu'); // 1
 * activationCode('prelu'); // undefined
 * ```
 */
export function activationCode(name: string): number | undefined {
  return CODES[name];
}
