/**
 * `@semedit/core/io`: checkpoint readers and writers, all in TypeScript, nothing executed. Start with
 * {@link readCheckpoint}; use the format readers for lazy or partial reads.
 * @module
 */
export * from './dtype.js';
export type * from './types.js';
export * from './checkpoint.js';
export * from './inspect.js';
export * from './safetensors.js';
export * from './safetensors-write.js';
export { SAFETENSORS_MAX_HEADER_BYTES, SAFETENSORS_DTYPES } from './safetensors-header.js';
export { openFileSource, bufferSource, writeFileAtomic, FileAccessError, type ByteSource } from './file-source.js';
export * from './tfjs-weights.js';
export * from './tfjs-weights-write.js';
export * from './strict.js';
export * from './zip.js';
export * from './pickle.js';
export * from './torch.js';
export * from './torch-flatten.js';
export { TorchStorage, TorchTensor, materializeTensor, materializeTensors, type MaterializeOptions } from './torch-tensors.js';
export * from './model-folder.js';
