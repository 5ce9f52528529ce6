/**
 * The shapes training loop: it lowers a loss; a run stopped at a checkpoint and resumed ends with the same
 * variables, bit for bit, as a run straight through; the loss log follows the checkpoint; checkpoints of another
 * model or other settings, and non-finite losses, are typed errors; nothing leaks. The loss curves are a picture
 * with a line per loss.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { CheckpointFormatError, OptionError, createGenerator } from '@semedit/core';
import { readPng } from '@semedit/core/image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawCurves, writeCurves } from './curves.js';
import { lossLogPath, readLossLog, train, type TrainOptions } from './loop.js';

const dir = mkdtempSync(join(tmpdir(), 'semedit-train-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A least-squares toy: y = x·W + b on seeded data, a batch per step chosen by the step. */
function toy(): { params: Map<string, tf.Variable>; loss: (step: number) => Record<string, tf.Scalar>; dispose: () => void } {
  const g = createGenerator(1);
  const wTrue = tf.tensor2d(g.normal(4 * 2), [4, 2]);
  const params = new Map<string, tf.Variable>([
    ['w', tf.tidy(() => tf.variable(tf.zeros([4, 2])))],
    ['b', tf.tidy(() => tf.variable(tf.zeros([2])))],
  ]);
  const loss = (step: number): Record<string, tf.Scalar> => {
    const x = tf.tensor2d(createGenerator(100 + step).normal(8 * 4), [8, 4]);
    const y = tf.add(tf.matMul(x, wTrue), 0.5);
    const pred = tf.add(tf.matMul(x, params.get('w')!), params.get('b')!);
    return { mse: tf.mean(tf.square(tf.sub(pred, y))) as tf.Scalar, l2: tf.mul(1e-3, tf.sum(tf.square(params.get('w')!))) as tf.Scalar };
  };
  return { params, loss, dispose: () => tf.dispose([wTrue, ...params.values()]) };
}

async function run(opts: TrainOptions, stopAt?: number): Promise<{ values: Float32Array[]; last: number }> {
  const t = toy();
  let last = 0;
  try {
    for await (const s of train(t.params, t.loss, opts)) {
      last = s.step;
      if (stopAt !== undefined && s.step >= stopAt) break;
    }
    return { values: [...t.params.values()].map((v) => v.dataSync() as Float32Array), last };
  } finally {
    t.dispose();
  }
}

describe('train', () => {
  it('lowers the loss and reports progress with an ETA', async () => {
    const seen: (number | null)[] = [];
    const losses: number[] = [];
    const t = toy();
    for await (const s of train(t.params, t.loss, { model: 'toy', steps: 60, lr: 0.05, onProgress: (p) => seen.push(p.etaMs) })) losses.push(s.losses['mse']!);
    t.dispose();
    expect(losses.length).toBe(60);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 20);
    expect(seen[0]).toBeNull();
    expect(seen.at(-1)).toBe(0);
  });

  it('resumes from its checkpoint to the same variables, bit for bit, with the log cut back to the checkpoint', async () => {
    const straight = await run({ model: 'toy', steps: 12, lr: 0.05 });
    const ckpt = join(dir, 'toy.safetensors');
    const meta = { seed: '1' };
    // Stopped after step 7 with checkpoints every 5: the checkpoint holds step 5, the log 5 lines.
    expect((await run({ model: 'toy', steps: 12, lr: 0.05, checkpoint: ckpt, checkpointEvery: 5, meta }, 7)).last).toBe(7);
    expect((await readLossLog(lossLogPath(ckpt))).map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);
    const resumed = await run({ model: 'toy', steps: 12, lr: 0.05, checkpoint: ckpt, checkpointEvery: 5, meta });
    resumed.values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(straight.values[i]!)));
    const log = await readLossLog(lossLogPath(ckpt));
    expect(log.map((l) => l.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(Object.keys(log[0]!).sort()).toEqual(['l2', 'mse', 'step']);
  });

  it('refuses a checkpoint of another model or other settings, and non-finite losses, with typed errors', async () => {
    const ckpt = join(dir, 'other.safetensors');
    await run({ model: 'toy', steps: 2, lr: 0.05, checkpoint: ckpt, meta: { seed: '1' } });
    const before = readFileSync(ckpt);
    await expect(run({ model: 'classifier', steps: 4, lr: 0.05, checkpoint: ckpt, meta: { seed: '1' } })).rejects.toThrow(CheckpointFormatError);
    await expect(run({ model: 'toy', steps: 4, lr: 0.05, checkpoint: ckpt, meta: { seed: '2' } })).rejects.toThrow(/other settings/);
    expect(readFileSync(ckpt).equals(before)).toBe(true);
    await expect(run({ model: 'toy', steps: -1, lr: 0.05 })).rejects.toThrow(OptionError);
    await expect(run({ model: 'toy', steps: 3, lr: () => Number.NaN })).rejects.toThrow(/lr/);
    const t = toy();
    const bad = train(t.params, () => ({ loss: tf.add(tf.sum(t.params.get('w')!), Number.POSITIVE_INFINITY) as tf.Scalar }), { model: 'toy', steps: 3, lr: 0.1 });
    await expect(bad.next()).rejects.toThrow(/loss is Infinity at step 1/);
    expect(Array.from(t.params.get('w')!.dataSync()).every((v) => v === 0)).toBe(true);
    t.dispose();
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    await run({ model: 'toy', steps: 5, lr: 0.05, checkpoint: join(dir, 'leak.safetensors'), checkpointEvery: 2 });
    await run({ model: 'toy', steps: 8, lr: 0.05, checkpoint: join(dir, 'leak.safetensors'), checkpointEvery: 2 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('loss curves', () => {
  it('draw a line per loss in its colour, on a log scale when the values span decades', async () => {
    const points = (f: (i: number) => number): [number, number][] => Array.from({ length: 200 }, (_, i) => [i + 1, f(i)]);
    const img = drawCurves([{ name: 'mse', points: points((i) => 10 * Math.exp(-i / 30)) }, { name: 'l2', points: points(() => 0.05) }], { title: 't' });
    expect([img.width, img.height]).toEqual([640, 360]);
    const count = (c: readonly number[]): number => {
      let n = 0;
      for (let p = 0; p < img.width * img.height; p++) if (img.data[p * 3] === c[0] && img.data[p * 3 + 1] === c[1] && img.data[p * 3 + 2] === c[2]) n++;
      return n;
    };
    // Each series' colour covers at least its plotted width (the line spans the x axis).
    expect(count([31, 119, 180])).toBeGreaterThan(400);
    expect(count([255, 127, 14])).toBeGreaterThan(400);
    expect(() => drawCurves([{ name: 'x', points: [[1, Number.NaN]] }])).toThrow(OptionError);
    const path = join(dir, 'curves.png');
    await writeCurves(path, [{ step: 1, loss: 2 }, { step: 2, loss: 1 }, { step: 3, loss: 0.5 }], 'toy');
    expect((await readPng(path)).width).toBe(640);
  });
});
