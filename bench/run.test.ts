/**
 * The `pnpm bench` contract without timing anything long: the command line, the JSON written from fake
 * measurements, the dashboard's reading of it, the refusal of unknown cases by the real script, and the child
 * side's cheap paths (a kernel case timed once on wasm, the SD 1.5 UNet refused by the wasm heap guard). No
 * assertion is about a time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@semedit/core/backend';
import { afterAll, describe, expect, it } from 'vitest';
import { renderDashboard, toBenchResult } from './dashboard.js';
import { NotRun, prepareCase, timeCase } from './lib/bench-cases.js';
import { BenchArgError, CASE_NAMES, benchJson, caseResult, parseBenchArgs, writeBenchJson, type BenchJson } from './lib/bench-json.js';
import { machine } from './lib/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HERE = dirname(fileURLToPath(import.meta.url));

describe('parseBenchArgs', () => {
  it('reads --quick, --only (both spellings) and --json, keeping the case order of CASE_NAMES', () => {
    expect(parseBenchArgs([])).toEqual({ quick: false, cases: [...CASE_NAMES], json: null });
    expect(parseBenchArgs(['--quick', '--only', 'matmul-sd,conv3x3-sd', '--json', '/tmp/b.json'])).toEqual({
      quick: true, cases: ['conv3x3-sd', 'matmul-sd'], json: '/tmp/b.json',
    });
    expect(parseBenchArgs(['--only=unet-step-sd15', '--json=x.json']).cases).toEqual(['unet-step-sd15']);
  });

  it('refuses unknown cases with the valid names, unknown flags and missing values', () => {
    expect(() => parseBenchArgs(['--only', 'conv3x3-sd,unet'])).toThrow(BenchArgError);
    expect(() => parseBenchArgs(['--only', 'unet'])).toThrow(/unknown case\(s\) unet; valid cases: unet-step-sd15, unet-step-sd15-bf16, vae-decode-512/);
    expect(() => parseBenchArgs(['--reps=2'])).toThrow(/unknown argument --reps=2/);
    expect(() => parseBenchArgs(['--json'])).toThrow(/--json needs a value/);
    expect(() => parseBenchArgs(['--only', '--quick'])).toThrow(/--only needs a value/);
    expect(() => parseBenchArgs(['--only', ','])).toThrow(/names no case/);
  });
});

describe('the bench JSON', () => {
  const fake = (): BenchJson => benchJson({
    machine: { ...machine(), loadAvg1: 1.5 },
    backend: { name: 'native', threads: 2, simd: true, tried: [{ name: 'native' }], detail: 'fake', weightStorage: 'fp32', warnings: [] },
    quick: true,
    results: [
      caseResult('unet-step-sd15', { ms: 17_000.123, maxAbsDiff: 2e-4, note: 'n' }, { torch: { ms: null, note: 'skipped in --quick' }, onnxruntime: { ms: 20_000 } }),
      caseResult('unet-step-sd15-bf16', { ms: null, note: 'bf16 compute needs the native backend with SEMEDIT_PRECISION=bf16' }, {}),
      caseResult('matmul-sd', { ms: 40, gflop: 1.68 }, { torch: { ms: 20 }, 'tfjs-wasm-stock': { ms: 80 } }),
    ],
  });

  it('has { machine, backend, results: [{ name, ms, baselines: { torch, onnxruntime, tfjs-wasm-stock } }] }', () => {
    const file = writeBenchJson(join(dir, 'sub', 'b.json'), fake());
    const j = JSON.parse(readFileSync(file, 'utf8')) as BenchJson;
    expect(Object.keys(j)).toEqual(expect.arrayContaining(['machine', 'backend', 'results']));
    expect(j.machine.loadAvg1).toBe(1.5);
    expect(j.backend?.name).toBe('native');
    for (const r of j.results) {
      expect(CASE_NAMES).toContain(r.name);
      expect(r.ms === null || typeof r.ms === 'number').toBe(true);
      expect(Object.keys(r.baselines).sort()).toEqual(['onnxruntime', 'tfjs-wasm-stock', 'torch']);
    }
    const [unet, bf16, mm] = j.results as [BenchJson['results'][number], BenchJson['results'][number], BenchJson['results'][number]];
    expect(unet).toMatchObject({ ms: 17000.12, baselines: { torch: null, onnxruntime: 20000, 'tfjs-wasm-stock': null }, maxAbsDiff: 2e-4, note: 'n' });
    expect(unet.baselineNotes.torch).toBe('skipped in --quick');
    expect(unet.baselineNotes['tfjs-wasm-stock']).toBe('no such baseline for this case');
    expect(unet.target).toEqual({ baseline: 'onnxruntime', maxRatio: 0.9, ratio: 0.85, met: true });
    expect(bf16).toMatchObject({ ms: null, note: 'bf16 compute needs the native backend with SEMEDIT_PRECISION=bf16' });
    expect(mm.speedups).toEqual({ torch: 0.5, 'tfjs-wasm-stock': 2 });
    expect(mm.target).toBeUndefined();
  });

  it('renders in the dashboard: a row per case, a ratio per baseline that ran', () => {
    const r = toBenchResult(JSON.parse(JSON.stringify(fake())) as Record<string, unknown>);
    expect(r.timings.map((t) => t['case'])).toEqual(['unet-step-sd15', 'unet-step-sd15-bf16', 'matmul-sd']);
    expect(r.ratios).toEqual([
      { case: 'unet-step-sd15 · vs onnxruntime', speedup: 20000 / 17000.12, baseline: 'onnxruntime' },
      { case: 'matmul-sd · vs torch', speedup: 0.5, baseline: 'torch' },
      { case: 'matmul-sd · vs tfjs-wasm-stock', speedup: 2, baseline: 'tfjs-wasm-stock' },
    ]);
    const html = renderDashboard([r]);
    expect(html).toContain('<h2>pnpm bench --quick</h2>');
    expect(html).toContain('native (fake)');
    expect(html).toContain('x2.00');
  });
});

describe('bench/run.ts', () => {
  it('refuses an unknown case before running anything (exit 2, the valid names listed)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=@repo/source', join(HERE, 'run.ts'), '--only', 'conv3x3-sd,nope', '--json', join(dir, 'x.json')], {
      encoding: 'utf8', cwd: join(HERE, '..'),
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown case(s) nope; valid cases: unet-step-sd15');
    expect(r.stdout).not.toContain('conv3x3-sd:');
  });

  it('child side: times a kernel case once with a profile; the SD 1.5 UNet and bf16 are not run on wasm, with the reason', async () => {
    await initBackend({ backend: 'wasm', threads: 1 });
    const policy = { warmup: 0, reps: 1 };
    const m = await timeCase(await prepareCase('matmul-sd', 'tfjs-wasm-stock', policy), policy, true);
    expect(m.ms).toBeGreaterThan(0);
    expect(m.gflop).toBeCloseTo(1.6777216, 6);
    expect(m.profile?.[0]?.gflop).toBeCloseTo(1.6777216, 6);
    await expect(prepareCase('unet-step-sd15', 'tfjs-wasm-stock', policy)).rejects.toThrow(NotRun);
    await expect(prepareCase('unet-step-sd15', 'tfjs-wasm-stock', policy)).rejects.toThrow(/SD 1.5 UNet \(float32\) needs 3.20 GiB/);
    await expect(prepareCase('unet-step-sd15-bf16', 'main', policy)).rejects.toThrow('bf16 compute needs the native backend with SEMEDIT_PRECISION=bf16');
  });
});
