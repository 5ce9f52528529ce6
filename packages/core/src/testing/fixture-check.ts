/**
 * One-line parity checks: compare a model output with a fixture check's expected tensor, at the check's own
 * tolerance, converting the fixture's layout (NCHW) to ours (NHWC) when asked.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemeditError } from '../errors.js';
import { openSafetensors } from '../io/safetensors.js';
import type { RawTensor } from '../io/types.js';
import { compareArrays, nchwToNhwc, type CompareResult } from './compare.js';
import type { FixtureCheck, FixtureManifest } from './fixtures.js';

/**
 * Finds the manifest's check for `output` (and, when given, `file` key); throws naming the fixture if absent.
 *
 * @param m      the manifest
 * @param output the check's output name, e.g. `noise_pred_scalar_t`
 * @param file   the check's file key, when several checks share an output name
 * @example
 * ```ts
 * const c = findCheck(readManifest('unet-tiny'), 'inter.conv_in'); // { atol: 1e-4, rtol: 1e-4, layout: 'NCHW', ... }
 * ```
 */
export function findCheck(m: FixtureManifest, output: string, file?: string): FixtureCheck {
  const c = m.checks.find((k) => k.output === output && (file === undefined || k.file === file));
  if (!c) throw new SemeditError('E_FIXTURE', `fixture ${m.id} has no check for "${output}"${file ? ` in ${file}` : ''}`);
  return c;
}

/**
 * Reads a tensor of a fixture file (`m.files[fileKey]`, safetensors) by name.
 *
 * @param m       the manifest
 * @param fileKey key into `m.files`
 * @param name    tensor name inside the file
 * @example
 * ```ts
 * const sample = await readFixtureTensor(m, 'io', 'sample'); // RawTensor, NCHW as stored
 * ```
 */
export async function readFixtureTensor(m: FixtureManifest, fileKey: string, name: string): Promise<RawTensor> {
  const path = m.files[fileKey];
  if (!path) throw new SemeditError('E_FIXTURE', `fixture ${m.id} has no file "${fileKey}"`);
  const st = await openSafetensors(path);
  try {
    return await st.read(name);
  } finally {
    await st.close();
  }
}

/** Options of {@link checkAgainstFixture}. */
export interface FixtureCheckOptions {
  /** Layout of `actual`: `NHWC` converts a 4-D (or 3-D) NCHW expected tensor to NHWC before comparing. */
  layout?: 'NHWC' | 'same';
  /** The check's file key, when several checks share an output name. */
  file?: string;
}

/**
 * Compares `actual` with the expected tensor of the check named `output`, using that check's `atol`/`rtol`.
 *
 * @param m      the manifest
 * @param output the check's output name
 * @param actual our result (a tensor or a flat array with its shape)
 * @param opts   `layout`, `file`
 * @example
 * ```ts
 * const r = await checkAgainstFixture(m, 'noise_pred_scalar_t', eps, { layout: 'NHWC' });
 * expect(r.ok, r.message).toBe(true);
 * ```
 */
export async function checkAgainstFixture(
  m: FixtureManifest, output: string, actual: tf.Tensor | { shape: readonly number[]; data: Float32Array }, opts: FixtureCheckOptions = {},
): Promise<CompareResult> {
  const check = findCheck(m, output, opts.file);
  const exp = await readFixtureTensor(m, check.file, output);
  let expData = exp.data as Float32Array;
  let expShape = exp.shape;
  if (opts.layout === 'NHWC' && (exp.shape.length === 4 || exp.shape.length === 3)) {
    expData = nchwToNhwc(expData, exp.shape);
    const s = exp.shape;
    expShape = s.length === 4 ? [s[0]!, s[2]!, s[3]!, s[1]!] : [s[1]!, s[2]!, s[0]!];
  }
  const a = actual instanceof tf.Tensor ? { shape: actual.shape, data: (await actual.data()) as Float32Array } : actual;
  if (a.shape.length !== expShape.length || a.shape.some((d, i) => d !== expShape[i])) {
    throw new SemeditError('E_SHAPE', `${m.id} ${output}: shape [${a.shape}] vs expected [${expShape}]`);
  }
  return compareArrays(a.data, expData, { atol: check.atol, rtol: check.rtol, name: `${m.id} ${output}`, shape: expShape });
}
