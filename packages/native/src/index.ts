/**
 * `@semedit/native`: semedit's CPU engine, a tfjs backend named `native` over oneDNN. Register it with
 * {@link registerNativeBackend} (semedit's `initBackend({ backend: 'native' })` does this), or check first with
 * {@link nativeAvailability}.
 * @module
 */
export { registerNativeBackend, defaultThreads, physicalCores, type NativeInfo } from './register.js';
export { NativeBackend, NATIVE } from './backend.js';
export type { HalfBits, HalfFormat } from './addon.js';
export { NativeKernelError, NativeUnavailableError } from './errors.js';
export { nativeAvailability } from './availability.js';
