/**
 * The child process of {@link DeadlineReader}: reads one checkpoint from bytes per message and answers with a
 * summary of every tensor, or the error it raised. Runs in its own process so that a hang can be killed.
 * @module
 */
import { SemeditError } from '../errors.js';
import { parseSafetensors } from '../io/safetensors.js';
import { decodeTfjsWeights } from '../io/tfjs-weights.js';
import { readTorchCheckpoint } from '../io/torch.js';
import type { RawTensor } from '../io/types.js';
import type { FuzzRequest, FuzzResponse, TensorSummary } from './fuzz.js';

function summarize(tensors: Map<string, RawTensor>): TensorSummary[] {
  return [...tensors].map(([name, t]) => {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel) throw new Error(`${name}: ${t.data.length} elements for shape [${t.shape.join(', ')}]`);
    let sum = 0;
    for (const v of t.data) sum += Number(v);
    return { name, dtype: t.dtype, shape: [...t.shape], sum };
  });
}

async function read(req: FuzzRequest): Promise<Map<string, RawTensor>> {
  if (req.format === 'safetensors') return parseSafetensors(req.bytes, 'fuzz', { widen: false });
  if (req.format === 'tfjs') return decodeTfjsWeights(req.manifest ?? req.bytes, (p) => req.shards?.get(p), 'fuzz');
  const ckpt = await readTorchCheckpoint(req.bytes, { name: 'fuzz' });
  try {
    return await ckpt.tensors({ maxTensorBytes: req.maxTensorBytes, root: req.root });
  } finally {
    await ckpt.close();
  }
}

process.on('message', (req: FuzzRequest) => {
  void read(req).then(
    (t): FuzzResponse => ({ id: req.id, ok: true, tensors: summarize(t) }),
    (e: unknown): FuzzResponse => ({ id: req.id, ok: false, semedit: e instanceof SemeditError, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
  ).then((r) => process.send!({ ...r, arrayBuffers: process.memoryUsage().arrayBuffers }));
});
process.send!({ id: -1, ok: true, tensors: [] } satisfies FuzzResponse); // ready
