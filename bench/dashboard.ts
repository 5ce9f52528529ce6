/**
 * Builds the HTML dashboard from every `bench/results/*.json`: one section per bench with its machine and
 * backend lines, a bar chart of its ratios (speed-ups against the baseline measured in the same run) drawn as
 * inline SVG, and the table of timings.
 *
 *   pnpm bench:dashboard [extra.json ...]   # writes bench/results/index.html
 *
 * It also reads the `pnpm bench` file (`{ machine, backend, results }`, see {@link toBenchResult}).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fields the dashboard reads from a bench result (extra fields are ignored). */
export interface BenchResult {
  bench: string;
  date: string;
  machine: Record<string, unknown>;
  backends?: { name: string; threads?: number; simd?: boolean; detail?: string }[];
  timings: Record<string, unknown>[];
  ratios: { case: string; speedup: number; baseline?: string }[];
}

const esc = (s: unknown): string => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Renders horizontal bars for ratios, with a line at 1 (parity with the baseline).
 *
 * @param ratios speed-ups by case
 * @example
 * ```ts
 * ratioChart([{ case: 'conv', speedup: 1.9 }]); // '<svg ...>'
 * ```
 */
export function ratioChart(ratios: BenchResult['ratios']): string {
  const rowH = 26;
  const labelW = 300;
  const plotW = 420;
  const max = Math.max(2, ...ratios.map((r) => r.speedup)) * 1.1;
  const x = (v: number) => labelW + (v / max) * plotW;
  const bars = ratios
    .map((r, i) => {
      const y = 10 + i * rowH;
      const colour = r.speedup >= 1 ? '#2f7d32' : '#c62828';
      return `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end" font-size="12">${esc(r.case)}</text>` +
        `<rect x="${labelW}" y="${y + 3}" width="${Math.max(1, x(r.speedup) - labelW)}" height="16" fill="${colour}"/>` +
        `<text x="${x(r.speedup) + 6}" y="${y + 15}" font-size="12">x${r.speedup.toFixed(2)}</text>`;
    })
    .join('');
  const h = 20 + ratios.length * rowH;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 80}" height="${h}" font-family="sans-serif">` +
    `${bars}<line x1="${x(1)}" y1="4" x2="${x(1)}" y2="${h - 4}" stroke="#333" stroke-dasharray="4 3"/>` +
    `<text x="${x(1) + 3}" y="${h - 2}" font-size="10">baseline = 1</text></svg>`;
}

function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  const fmt = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : esc(typeof v === 'object' ? JSON.stringify(v) : v));
  return `<table><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${cols.map((c) => `<td>${fmt(r[c])}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

/**
 * Renders the dashboard page for a set of results.
 *
 * @param results parsed bench results
 * @example
 * ```ts
 * writeFileSync('index.html', renderDashboard([result]));
 * ```
 */
export function renderDashboard(results: BenchResult[]): string {
  const sections = results.map((r) => {
    const m = r.machine;
    const backends = (r.backends ?? []).map((b) => `${esc(b.name)}${b.detail ? ` (${esc(b.detail)})` : ''}`).join('; ');
    return `<section><h2>${esc(r.bench)}</h2><p class="meta">${esc(r.date)} · ${esc(m['cpu'])}, ${esc(m['logicalCores'])} cores, ` +
      `Node ${esc(m['node'])} · backends: ${backends}</p>${ratioChart(r.ratios)}${table(r.timings)}</section>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>semedit bench</title><style>
body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}th{background:#f3f3f3}.meta{color:#666;font-size:13px}
</style></head><body><h1>semedit bench</h1><p>Every figure is a ratio against a baseline measured in the same run.</p>${sections.join('')}</body></html>\n`;
}

/**
 * Accepts the ratio fields benches have used (`speedup`, `ratio`, `overCfg`); entries with none are dropped.
 *
 * @example
 * ```ts
 * normalizeRatio({ case: 'SEGA', overCfg: 1.5 }); // { case: 'SEGA', speedup: 1.5 }
 * ```
 */
export function normalizeRatio(r: Record<string, unknown>): BenchResult['ratios'][number] | undefined {
  const v = [r['speedup'], r['ratio'], r['overCfg']].find((x) => typeof x === 'number' && Number.isFinite(x));
  return typeof v === 'number' ? { case: String(r['case']), speedup: v, baseline: typeof r['baseline'] === 'string' ? r['baseline'] : undefined } : undefined;
}

/**
 * Turns a `pnpm bench` file (`{ machine, backend, results }`, see `lib/bench-json.ts`) into the dashboard's form:
 * one timings row per case (ours and each baseline, ms) and one ratio per case and baseline that both ran
 * (baseline ms / ours: above 1, we are faster). Any other bench file is returned as it is.
 *
 * @example
 * ```ts
 * toBenchResult({ bench: 'bench', date: 'd', machine: {}, backend: { name: 'native' }, results: [...] }).ratios[0];
 * // { case: 'conv3x3-sd · vs torch', speedup: 0.8, baseline: 'torch' }
 * ```
 */
export function toBenchResult(json: Record<string, unknown>): BenchResult {
  if (!Array.isArray(json['results']) || !('backend' in json)) return json as unknown as BenchResult;
  const results = json['results'] as { name: string; ms: number | null; baselines: Record<string, number | null>; note?: string; maxAbsDiff?: number | null; target?: { ratio: number | null; maxRatio: number; baseline: string; met: boolean | null } }[];
  const backend = json['backend'] as { name: string; detail?: string } | null;
  const timings = results.map((r) => ({
    case: r.name, ms: r.ms, ...Object.fromEntries(Object.entries(r.baselines).map(([k, v]) => [`${k} ms`, v])),
    target: r.target ? `<= ${r.target.maxRatio}x ${r.target.baseline}: ${r.target.met === null ? 'n/a' : r.target.met ? 'met' : 'not met'}` : '',
    maxAbsDiff: r.maxAbsDiff ?? null, note: r.note ?? '',
  }));
  const ratios = results.flatMap((r) => Object.entries(r.baselines)
    .filter(([, v]) => v !== null && r.ms !== null && r.ms > 0)
    .map(([k, v]) => ({ case: `${r.name} · vs ${k}`, speedup: v! / r.ms!, baseline: k })));
  return {
    bench: `pnpm bench${json['quick'] ? ' --quick' : ''}`, date: String(json['date'] ?? ''), machine: json['machine'] as Record<string, unknown>,
    backends: backend ? [backend] : [], timings, ratios,
  };
}

/**
 * Renders every `bench/results/*.json` and the given extra result files into `bench/results/index.html`.
 *
 * @param extra more result files (e.g. a `pnpm bench --json FILE` outside results/)
 * @returns the path written
 * @example
 * ```ts
 * writeDashboard(['/tmp/b.json']); // '.../bench/results/index.html'
 * ```
 */
export function writeDashboard(extra: readonly string[] = []): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const files = [...readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f)), ...extra];
  const results = files
    .map((f) => toBenchResult(JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>))
    .filter((r) => Array.isArray(r.ratios) && Array.isArray(r.timings))
    .map((r) => ({ ...r, ratios: r.ratios.map((x) => normalizeRatio(x as unknown as Record<string, unknown>)).filter((x): x is BenchResult['ratios'][number] => x !== undefined) }));
  const out = join(dir, 'index.html');
  writeFileSync(out, renderDashboard(results));
  console.log(`dashboard: ${results.length} benches`);
  return out;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) console.log(`wrote ${writeDashboard(process.argv.slice(2))}`);
