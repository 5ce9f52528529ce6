/**
 * The shipped scene classifier (`packages/shapes/weights/classifier`): it loads through the checkpoint path and
 * reads held-out scenes as its model card says (measured there on 512 scenes: 94.3% whole scenes right; checked
 * here on the first 96 with a margin), on whichever backend `initBackend` picks.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { classifierAccuracy, loadClassifier } from './classifier-train.js';

const dir = fileURLToPath(new URL('../../weights/classifier', import.meta.url));

beforeAll(async () => {
  await initBackend();
});

describe('shipped scene classifier', () => {
  it('reads held-out scenes as its model card says, without leaks', async () => {
    const before = tf.memory().numTensors;
    const c = await loadClassifier(dir);
    const acc = classifierAccuracy((x) => c.logits(x), { n: 96, split: 'eval', size: c.config.image_size });
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(acc.background).toBeGreaterThanOrEqual(0.98);
    expect(acc.presence).toBeGreaterThanOrEqual(0.98);
    expect(acc.colour).toBeGreaterThanOrEqual(0.95);
    expect(acc.size).toBeGreaterThanOrEqual(0.95);
    expect(acc.shape).toBeGreaterThanOrEqual(0.85);
    expect(acc.scene).toBeGreaterThanOrEqual(0.85);
  });
});
