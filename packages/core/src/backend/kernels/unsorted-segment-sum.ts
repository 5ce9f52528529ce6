/**
 * `UnsortedSegmentSum` for wasm (the gradient of `gather`), on wasm's `ScatterNd`, which adds the updates of
 * repeated indices:
 *
 *   out[s, ...] = Σ_{i : ids[i] = s} x[i, ...]      for s in [0, numSegments)
 *
 * `segmentIds` covers the leading axes of `x` (usually rank 1). Ids outside `[0, numSegments)` contribute
 * nothing, as on the cpu backend; those rows are dropped with a `GatherV2` before the scatter, since `ScatterNd`
 * does not check bounds.
 * @module
 */
import {
  UnsortedSegmentSum,
  util,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  type UnsortedSegmentSumAttrs,
} from '@tensorflow/tfjs-core';
import { withWasmScope, zeros } from './scope.js';

const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  const idsRank = segmentIds.shape.length;
  const rest = x.shape.slice(idsRank);
  const outShape = [numSegments, ...rest];
  const count = util.sizeFromShape(segmentIds.shape);
  const rowSize = util.sizeFromShape(rest);

  return withWasmScope(backend as KernelBackend, (s) => {
    if (count === 0 || rowSize === 0 || numSegments === 0) return zeros(s, outShape, x.dtype);
    const ids = (backend as KernelBackend).readSync(segmentIds.dataId) as Int32Array;
    const valid: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = ids[i]!;
      if (id >= 0 && id < numSegments) valid.push(i);
    }
    if (valid.length === 0) return zeros(s, outShape, x.dtype);
    let rows = s.run('Reshape', { x }, { shape: [count, ...rest] });
    let idx = s.run('Reshape', { x: segmentIds }, { shape: [count, 1] });
    if (valid.length < count) {
      // Keep only the rows whose id is in range.
      const keep = (backend as unknown as MakeOutput).makeOutput([valid.length], 'int32', undefined, Int32Array.from(valid));
      s.adopt(keep);
      rows = s.run('GatherV2', { x: rows, indices: keep }, { axis: 0, batchDims: 0 });
      const kept = Int32Array.from(valid, (i) => ids[i]!);
      idx = (backend as unknown as MakeOutput).makeOutput([valid.length, 1], 'int32', undefined, kept);
      s.adopt(idx);
    }
    return s.run('ScatterNd', { indices: idx, updates: rows }, { shape: outShape });
  });
};

/** `BackendWasm.makeOutput`, which uploads values to a new tensor on the wasm heap. */
interface MakeOutput {
  makeOutput(shape: number[], dtype: 'int32', memoryOffset: undefined, values: Int32Array): TensorInfo;
}

/**
 * Kernel config registering `UnsortedSegmentSum` for the wasm backend.
 *
 * @example
 * ```ts
 * if (!tf.getKernel(UnsortedSegmentSum, 'wasm')) tf.registerKernel(unsortedSegmentSumConfig);
 * ```
 */
export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum,
};
