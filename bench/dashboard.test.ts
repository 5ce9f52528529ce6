import { describe, expect, it } from 'vitest';
import { ratioChart, renderDashboard } from './dashboard.js';

describe('bench dashboard', () => {
  it('draws one bar per ratio, proportional to the speed-up, and escapes labels', () => {
    const svg = ratioChart([
      { case: 'a<b', speedup: 2 },
      { case: 'c', speedup: 1 },
    ]);
    const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(2);
    expect(widths[0]! / widths[1]!).toBeCloseTo(2, 6);
    expect(svg).toContain('a&#60;b');
  });

  it('renders a section with machine, backend and the timings table', () => {
    const html = renderDashboard([
      {
        bench: 'conv-threads', date: '2026-11-25', machine: { cpu: 'X', logicalCores: 2, node: 'v20' },
        backends: [{ name: 'wasm', detail: '1 thread' }],
        timings: [{ case: 'conv', threads: 1, medianMs: 10.5 }], ratios: [{ case: 'conv', speedup: 1.8 }],
      },
    ]);
    expect(html).toContain('<h2>conv-threads</h2>');
    expect(html).toContain('wasm (1 thread)');
    expect(html).toContain('<td>10.50</td>');
    expect(html).toContain('x1.80');
  });
});
