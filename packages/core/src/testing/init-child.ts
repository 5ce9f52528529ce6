/**
 * Child-process script of backend/native.test.ts: runs initBackend() with the inherited environment and prints
 * its BackendInfo as JSON.
 */
import { initBackend } from '../backend/index.js';

console.log(JSON.stringify(await initBackend()));
