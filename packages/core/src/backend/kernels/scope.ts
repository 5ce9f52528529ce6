/**
 * Composing wasm kernels out of wasm's own kernels: a scope that runs registered `wasm` kernel functions
 * directly on `TensorInfo`s (no engine tensors, no tape) and frees every intermediate when the composed kernel
 * returns or throws, plus the shape helpers the convolution gradients share.
 * @module
 */
import { getKernel, type KernelBackend, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Runs wasm kernels and owns their outputs until {@link withWasmScope} returns.
 *
 * @example
 * ```ts
 * withWasmScope(backend, (s: WasmKernelScope) => s.run('Reshape', { x }, { shape: [-1] }));
 * ```
 */
export class WasmKernelScope {
  private readonly owned: TensorInfo[] = [];

  /** @param backend the wasm backend instance the composed kernel received */
  constructor(readonly backend: KernelBackend) {}

  /**
   * Runs the `wasm` kernel `name`; its output belongs to the scope.
   *
   * @param name   kernel name, e.g. `Transpose`
   * @param inputs named inputs, or a list for `Concat`
   * @param attrs  kernel attributes
   */
  run(name: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(name, 'wasm');
    if (!kernel) throw new Error(`wasm kernel "${name}" is not registered`);
    const out = kernel.kernelFunc({ inputs: inputs as Record<string, TensorInfo>, backend: this.backend, attrs });
    const outs = Array.isArray(out) ? out : [out];
    this.owned.push(...outs);
    const first = outs[0];
    if (!first) throw new Error(`wasm kernel "${name}" returned no output`);
    return first;
  }

  /**
   * Makes the scope own a tensor made outside {@link run} (e.g. uploaded with `makeOutput`).
   *
   * @param t the tensor to dispose with the other intermediates
   */
  adopt(t: TensorInfo): TensorInfo {
    this.owned.push(t);
    return t;
  }

  /** Disposes every output the scope owns except `keep`. */
  release(keep?: TensorInfo): void {
    for (const t of this.owned) if (t !== keep) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
  }
}

/**
 * Runs `body` in a {@link WasmKernelScope}: every intermediate is disposed, the result is kept; on a throw,
 * everything the scope made is disposed.
 *
 * @param backend the wasm backend
 * @param body    builds the result from scoped kernel calls
 * @example
 * ```ts
 * const kernelFunc: KernelFunc = ({ inputs, backend }) =>
 *   withWasmScope(backend, (s) => s.run('Transpose', { x: inputs.x! }, { perm: [1, 0] }));
 * ```
 */
export function withWasmScope(backend: KernelBackend, body: (s: WasmKernelScope) => TensorInfo): TensorInfo {
  const s = new WasmKernelScope(backend);
  let result: TensorInfo;
  try {
    result = body(s);
  } catch (e) {
    s.release();
    throw e;
  }
  s.release(result);
  return result;
}

/**
 * Pads with zeros (positive amounts) or crops (negative amounts) each axis of `x`.
 *
 * @param s    the scope
 * @param x    any tensor, e.g. `[N, H, W, C]`
 * @param pads `[before, after]` per axis; negative values remove that many elements
 * @example
 * ```ts
 * padOrCrop(s, x, [[0, 0], [1, -1], [2, 0], [0, 0]]); // [N, H, W + 2, C], rows shifted down by one
 * ```
 */
export function padOrCrop(s: WasmKernelScope, x: TensorInfo, pads: readonly (readonly [number, number])[]): TensorInfo {
  let y = x;
  if (pads.some(([b, a]) => b < 0 || a < 0)) {
    const begin = pads.map(([b]) => Math.max(0, -b));
    const end = pads.map(([, a], i) => (x.shape[i] ?? 0) - Math.max(0, -a));
    if (end.some((e, i) => e < (begin[i] ?? 0))) throw new Error(`cannot crop ${JSON.stringify(pads)} from [${x.shape}]`);
    y = s.run('StridedSlice', { x: y }, { begin, end, strides: begin.map(() => 1), beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 });
  }
  if (pads.some(([b, a]) => b > 0 || a > 0)) {
    y = s.run('PadV2', { x: y }, { paddings: pads.map(([b, a]) => [Math.max(0, b), Math.max(0, a)]), constantValue: 0 });
  }
  return y;
}

/**
 * Zeros of a shape, made by wasm's `Fill` kernel.
 *
 * @param s     the scope
 * @param shape output shape
 * @param dtype output dtype
 * @example
 * ```ts
 * zeros(s, [3, 3, 4, 8], 'float32');
 * ```
 */
export function zeros(s: WasmKernelScope, shape: number[], dtype: TensorInfo['dtype']): TensorInfo {
  return s.run('Fill', {}, { shape, value: 0, dtype });
}
