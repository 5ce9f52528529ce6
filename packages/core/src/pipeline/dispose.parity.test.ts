/**
 * A pipeline disposed while a run is going: the next model call refuses with a typed DisposedError (no raw tfjs
 * TypeError), the run frees what it held, and a disposed model refuses every later use.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { DisposedError } from '../errors.js';
import { loadFixturePipeline, readManifest } from '../testing/index.js';
import { ImageTooLargeError } from './image-memory.js';
import { runTextToImage } from './txt2img.js';

const m = readManifest('sega-tiny');
const params = JSON.parse(readFileSync(m.files['params']!, 'utf8')) as {
  prompt: string; num_inference_steps: number; height: number; width: number; scheduler: { cls: string } & Record<string, unknown>;
};

beforeAll(async () => {
  await initBackend();
});

describe(`use after dispose (${m.id})`, () => {
  it(`${m.id}: disposing the models mid-run stops it with DisposedError and frees the run's tensors`, async () => {
    const before = tf.memory().numTensors;
    const { sd, dispose } = await loadFixturePipeline(m, params.scheduler);
    let steps = 0;
    const run = runTextToImage(sd, {
      prompt: params.prompt, numInferenceSteps: params.num_inference_steps, height: params.height, width: params.width,
      onProgress: (done) => {
        steps = done;
        if (done === 1) setImmediate(dispose); // as a server's other request would, between two steps
      },
    });
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DisposedError);
    expect((err as DisposedError).message).toMatch(/UNet2DConditionModel was disposed/);
    expect(steps).toBeLessThan(params.num_inference_steps);
    expect(tf.memory().numTensors).toBe(before); // weights freed by dispose, run state by the loop
    expect(() => sd.vae.decode(tf.zeros([1, 2, 2, sd.vae.config.latentChannels]))).toThrow(DisposedError);
    expect(() => sd.textEncoder.forward([[0]])).toThrow(DisposedError);
    dispose(); // a second dispose is harmless
  });
});

describe(`sizes checked against memory before any work (${m.id})`, () => {
  it(`${m.id}: a 65536 x 65536 request is refused at once with ImageTooLargeError, nothing computed or leaked`, async () => {
    const { sd, dispose } = await loadFixturePipeline(m, params.scheduler);
    const before = tf.memory().numTensors;
    let steps = 0;
    const side = 2 ** 16;
    const err = await runTextToImage(sd, { prompt: params.prompt, height: side, width: side, onProgress: () => steps++ }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTooLargeError);
    expect(steps).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    dispose();
  });
});

