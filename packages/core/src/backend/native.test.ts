/**
 * initBackend and the native engine: without the addon it falls back to wasm and says why in one line; with it,
 * SEMEDIT_THREADS sets native's thread count. Each case runs initBackend in a child process.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('../testing/init-child.ts', import.meta.url));
const NODE_ARGS = ['--conditions=@repo/source', '--import', 'tsx', CHILD];
const native = (await import('@semedit/native')).nativeAvailability();

function init(env: Record<string, string>): { name: string; threads: number; detail: string; warnings: string[]; tried: { name: string; error?: string }[] } {
  const r = spawnSync(process.execPath, NODE_ARGS, { env: { ...process.env, SEMEDIT_BACKEND: '', ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

describe('initBackend with the native engine', () => {
  it('falls back to wasm without the addon, saying why in one line', () => {
    const info = init({ SEMEDIT_NATIVE_ADDON: '/nonexistent/semedit_native.node' });
    expect(info.name).toBe('wasm');
    const line = info.warnings.find((w) => w.startsWith('native unavailable: '));
    expect(line).toMatch(/; using wasm$/);
    expect(line).not.toContain('\n');
    expect(info.tried.find((t) => t.name === 'native')?.error).toBe(line!.slice('native unavailable: '.length, -'; using wasm'.length));
  });

  it.skipIf(!native.available)('runs native with SEMEDIT_THREADS threads', () => {
    const info = init({ SEMEDIT_THREADS: '1' });
    expect([info.name, info.threads]).toEqual(['native', 1]);
    expect(info.detail).toMatch(/, 1 thread$/);
  });
});
