/**
 * Child-process script of engine.test.ts. `mode` (argv[2]):
 * - `threads`: registers native and prints its NativeInfo as JSON;
 * - `spin`: registers native, prints "ready", then runs large convolutions forever (until a signal ends it).
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerNativeBackend } from '../index.js';

const mode = process.argv[2];
if (mode === 'threads') {
  console.log(JSON.stringify(registerNativeBackend()));
} else if (mode === 'spin') {
  registerNativeBackend();
  await tf.setBackend('native');
  const x = tf.ones([1, 128, 128, 256]) as tf.Tensor4D;
  const w = tf.ones([3, 3, 256, 256]) as tf.Tensor4D;
  console.log('ready');
  for (;;) tf.tidy(() => tf.conv2d(x, w, 1, 'same'));
}
