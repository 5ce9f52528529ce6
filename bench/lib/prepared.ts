/**
 * What a bench case is once prepared (its run, its reference output, its cost) and how often it is timed: the types
 * the case table (`bench-cases.ts`) and the GAN baselines (`gan-baselines.ts`) share.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { RawTensor } from '@semedit/core/io';

/** A case built on the active backend, ready to time. */
export interface Prepared {
  /** One call, returning its output (the timer reads it back and disposes it). */
  run: () => tf.Tensor | Promise<tf.Tensor>;
  /** Whether `run` is synchronous (only then can it run under `tf.profile()`). */
  sync: boolean;
  /** PyTorch's output for the same weights and inputs (our layout), to report the max abs diff. */
  reference?: RawTensor;
  /** Multiply-add GFLOP of one call, when known without a profile (kernels). */
  gflop?: number;
  note?: string;
  dispose: () => void;
}

/** Warm-up and timed runs. */
export interface RepPolicy {
  warmup: number;
  reps: number;
}

