import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
await initBackend({ backend: 'native' });
const x = tf.randomNormal([1, 64, 64, 320]) as tf.Tensor4D, w = tf.randomNormal([3, 3, 320, 320]) as tf.Tensor4D;
tf.tidy(() => tf.conv2d(x, w, 1, 'same').dataSync());
