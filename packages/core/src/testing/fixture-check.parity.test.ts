import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstFixture, findCheck, readFixtureTensor } from './fixture-check.js';
import { readManifest } from './fixtures.js';

const m = readManifest('unet-tiny');
beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe(`fixture checks (${m.id})`, () => {
  it(`${m.id}: an expected tensor compared with itself in NHWC passes, and a perturbed copy fails`, async () => {
    const check = findCheck(m, 'inter.conv_in');
    const raw = await readFixtureTensor(m, check.file, 'inter.conv_in');
    const nhwc = tf.tidy(() => tf.transpose(tf.tensor(raw.data as Float32Array, raw.shape), [0, 2, 3, 1]));
    expect((await checkAgainstFixture(m, 'inter.conv_in', nhwc, { layout: 'NHWC' })).ok).toBe(true);
    const off = tf.tidy(() => tf.add(nhwc, check.atol * 10 + 1));
    const r = await checkAgainstFixture(m, 'inter.conv_in', off, { layout: 'NHWC' });
    expect(r.ok).toBe(false);
    expect(r.mismatches).toBe(r.count);
    tf.dispose([nhwc, off]);
    expect(() => findCheck(m, 'no-such-output')).toThrow(/no-such-output/);
  });
});
